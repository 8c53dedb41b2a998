// The library's version (kept in step with project(VERSION) in CMakeLists.txt, which checks it).
#pragma once

namespace lanmsff {

inline constexpr int version_major = 0, version_minor = 1, version_patch = 0;
inline constexpr const char* version_string = "0.1.0";

}  // namespace lanmsff

// What the fuzz targets share. Each target is one LLVMFuzzerTestOneInput that hands the bytes to a parser
// of outside data the way a user's file reaches it (a file on disk for the loaders that take paths) and
// checks what comes back. A parser may refuse the bytes with a std::exception (that is its clear error);
// a crash, a sanitizer finding, another exception type, a hang or an invariant broken by what it returns
// is a finding. Built with libFuzzer under Clang (-fsanitize=fuzzer) and, with any compiler, as a program
// that replays the committed corpora (replay_main.cpp): ctest's fuzz_<name>.replay. docs/reliability.md.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lanmsff::fuzz {

// A private scratch directory of this process (in memory where /dev/shm exists), removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("lanmsff-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    static const fs::path removed_at_exit = d;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(removed_at_exit, ignored);
    });
    return d;
  }();
  return dir;
}

// Writes bytes to `path` (replacing it).
inline void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// An invariant of a parser's result that does not hold: a finding.
[[noreturn]] inline void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

// Runs f(); a std::exception is the parser refusing the input (fine), anything else propagates.
template <class F>
void refusal_is_fine(F&& f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

}  // namespace lanmsff::fuzz

// The data cache sizes of the CPU the program runs on, read once at run time, so that kernels size
// their blocks for the machine at hand rather than for the one they were tuned on: from Linux's
// /sys/devices/system/cpu/cpu0/cache (every architecture), else glibc's sysconf, else defaults that
// are small enough for any current CPU (L1d 32 KB, L2 512 KB, L3 4 MB). Sizes are per core for L1 and
// L2 (the cache the calling thread has to itself) and for the whole shared L3.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace lanmsff {

struct CacheSizes {
  std::size_t l1d = 32u << 10, l2 = 512u << 10, l3 = 4u << 20;
};

namespace detail {

// "48K", "2048K", "32M" as sysfs writes them; 0 if unreadable.
inline std::size_t parse_cache_size(const std::string& text) {
  std::size_t value = 0, i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value > (std::size_t(1) << 40)) return 0;
    value = value * 10 + std::size_t(text[i++] - '0');
  }
  if (i == 0) return 0;
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) value <<= 10;
  else if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) value <<= 20;
  return value;
}

inline std::string read_first_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  if (file) std::getline(file, line);
  return line;
}

inline CacheSizes detect_cache_sizes() {
  CacheSizes sizes;
  bool found_l2 = false, found_l3 = false, found_l1 = false;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = read_first_line(dir + "level"), type = read_first_line(dir + "type");
    if (level.empty()) continue;
    const std::size_t size = parse_cache_size(read_first_line(dir + "size"));
    if (size == 0 || type == "Instruction") continue;
    if (level == "1") sizes.l1d = size, found_l1 = true;
    if (level == "2") sizes.l2 = size, found_l2 = true;
    if (level == "3") sizes.l3 = size, found_l3 = true;
  }
#if defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE) && defined(_SC_LEVEL1_DCACHE_SIZE)
  const auto ask = [](int name) {
    const long value = sysconf(name);
    return value > 0 ? std::size_t(value) : std::size_t(0);
  };
  if (!found_l1 && ask(_SC_LEVEL1_DCACHE_SIZE)) sizes.l1d = ask(_SC_LEVEL1_DCACHE_SIZE);
  if (!found_l2 && ask(_SC_LEVEL2_CACHE_SIZE)) sizes.l2 = ask(_SC_LEVEL2_CACHE_SIZE);
  if (!found_l3 && ask(_SC_LEVEL3_CACHE_SIZE)) sizes.l3 = ask(_SC_LEVEL3_CACHE_SIZE);
#else
  (void)found_l1, (void)found_l2, (void)found_l3;
#endif
  // A CPU without an L3 (many ARM cores): the L2 is the last level.
  if (sizes.l3 < sizes.l2) sizes.l3 = sizes.l2;
  return sizes;
}

}  // namespace detail

// Detected on first use, then fixed for the process.
inline const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = detail::detect_cache_sizes();
  return sizes;
}

}  // namespace lanmsff

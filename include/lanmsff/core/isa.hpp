// The instruction set the kernels run on, chosen once at run time from what the CPU (and the
// operating system) supports, whatever flags the program was compiled with: AVX-512 (F, BW, DQ, VL),
// AVX2 with FMA, or the baseline of every x86-64 CPU (SSE2) on x86-64; NEON on aarch64. The
// environment variable LANMSFF_ISA=avx512|avx2|baseline|neon, read on first use, or set_isa(),
// forces a path the CPU supports (tests, measurements); naming one it does not support is an error.
// kernels/simd/ holds the per-ISA code this selects.
#pragma once

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
// Kernels for AVX2 and AVX-512 are compiled into every program (with target attributes) and picked
// at run time. Other compilers get the baseline only (kernels/simd/foreach_isa.hpp).
#define LANMSFF_X86_DISPATCH 1
#else
#define LANMSFF_X86_DISPATCH 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define LANMSFF_NEON 1
#else
#define LANMSFF_NEON 0
#endif

namespace lanmsff {

// Ordered by preference within an architecture: a larger value is a wider path.
enum class Isa { baseline = 0, neon = 1, avx2 = 2, avx512 = 3 };

inline constexpr std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::neon: return "neon";
    case Isa::baseline: break;
  }
  return "baseline";
}

// What each path is, in words (for --version and logs).
inline constexpr std::string_view isa_description(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "AVX-512 F/BW/DQ/VL, 16 floats per vector";
    case Isa::avx2: return "AVX2 + FMA, 8 floats per vector";
    case Isa::neon: return "NEON (AArch64 Advanced SIMD) with FMA, 4 floats per vector";
    case Isa::baseline: break;
  }
  return "the compiler's own target (SSE2 on plain x86-64) through Eigen's packets";
}

namespace detail {

#if LANMSFF_X86_DISPATCH
// XCR0: which register states the operating system saves on a context switch. A CPU may have
// AVX-512 that the kernel does not enable (then using it faults).
inline unsigned long long read_xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

struct X86Features {
  bool avx2_fma = false, avx512 = false;
};

inline X86Features detect_x86() {
  X86Features f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;     // SSE and AVX registers
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;   // and opmask, ZMM0-15 upper halves, ZMM16-31
  if (!ymm_state) return f;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17), avx512bw = ebx & (1u << 30),
             avx512vl = ebx & (1u << 31);
  f.avx2_fma = avx2 && fma;
  f.avx512 = f.avx2_fma && zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
  return f;
}
#endif

// The paths this CPU supports, widest first; baseline always last.
inline std::vector<Isa> detect_supported_isas() {
  std::vector<Isa> isas;
#if LANMSFF_X86_DISPATCH
  const X86Features f = detect_x86();
  if (f.avx512) isas.push_back(Isa::avx512);
  if (f.avx2_fma) isas.push_back(Isa::avx2);
#endif
#if LANMSFF_NEON
  isas.push_back(Isa::neon);  // Advanced SIMD is part of every AArch64 CPU
#endif
  isas.push_back(Isa::baseline);
  return isas;
}

inline const std::vector<Isa>& supported_isas_cache() {
  static const std::vector<Isa> isas = detect_supported_isas();
  return isas;
}

inline std::string isa_list(const std::vector<Isa>& isas) {
  std::string list;
  for (Isa i : isas) list += (list.empty() ? "" : ", ") + std::string(isa_name(i));
  return list;
}

inline Isa parse_isa(std::string_view name, std::string_view where) {
  for (Isa i : {Isa::avx512, Isa::avx2, Isa::neon, Isa::baseline})
    if (name == isa_name(i)) return i;
  throw std::invalid_argument(std::string(where) + ": unknown instruction set '" + std::string(name) +
                              "' (expected avx512, avx2, neon or baseline)");
}

inline bool is_supported(Isa isa) {
  for (Isa i : supported_isas_cache())
    if (i == isa) return true;
  return false;
}

inline void require_supported(Isa isa, std::string_view where) {
  if (!is_supported(isa))
    throw std::invalid_argument(std::string(where) + ": this CPU (or this build) has no " + std::string(isa_name(isa)) +
                                " path; it supports " + isa_list(supported_isas_cache()));
}

// -1 until first use; then the Isa in use.
inline std::atomic<int>& isa_state() {
  static std::atomic<int> state{-1};
  return state;
}

inline Isa choose_isa() {
  if (const char* forced = std::getenv("LANMSFF_ISA"); forced && *forced) {
    const Isa isa = parse_isa(forced, "LANMSFF_ISA");
    require_supported(isa, "LANMSFF_ISA");
    return isa;
  }
  return supported_isas_cache().front();
}

}  // namespace detail

// The paths this CPU supports, widest first (baseline last).
inline const std::vector<Isa>& supported_isas() { return detail::supported_isas_cache(); }
inline bool isa_supported(Isa isa) { return detail::is_supported(isa); }
inline std::string supported_isa_list() { return detail::isa_list(supported_isas()); }

// The path the kernels use: the widest the CPU supports, or LANMSFF_ISA's. Decided on the first
// call (which throws std::invalid_argument for a LANMSFF_ISA that is unknown or unsupported).
inline Isa active_isa() {
  const int state = detail::isa_state().load(std::memory_order_relaxed);
  if (state >= 0) return static_cast<Isa>(state);
  const Isa isa = detail::choose_isa();
  detail::isa_state().store(static_cast<int>(isa), std::memory_order_relaxed);
  return isa;
}

// Selects a path from now on (std::invalid_argument if the CPU does not support it). Set it before
// running a network, not while one runs.
inline void set_isa(Isa isa) {
  detail::require_supported(isa, "set_isa");
  detail::isa_state().store(static_cast<int>(isa), std::memory_order_relaxed);
}
inline void set_isa(std::string_view name) { set_isa(detail::parse_isa(name, "set_isa")); }

// One line for logs and --version: "kernels: avx2 (AVX2 + FMA, 8 floats per vector); this CPU: avx512,
// avx2, baseline".
inline std::string isa_report() {
  const Isa isa = active_isa();
  return "kernels: " + std::string(isa_name(isa)) + " (" + std::string(isa_description(isa)) +
         "); this CPU: " + detail::isa_list(supported_isas());
}

}  // namespace lanmsff

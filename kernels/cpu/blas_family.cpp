// OpenBLAS kernel families: CPU features from cpuid, the validated families, and the switch at start-up.
#include "kernels/cpu/blas_family.h"

#include <cblas.h>
#include <cpuid.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace stepwise::kernels::cpu {

namespace {

// XCR0: which register states the OS saves on a context switch. AVX needs XMM and YMM (bits 1, 2); AVX-512 also
// the opmask and the upper ZMM halves and registers (bits 5, 6, 7). Without them the instructions fault.
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string& startup_reason() {
  static std::string reason;
  return reason;
}

}  // namespace

std::string CpuFeatures::names() const {
  std::string out;
  const std::pair<const char*, bool> all[] = {
      {"sse3", sse3}, {"ssse3", ssse3}, {"sse4_2", sse4_2}, {"avx", avx}, {"avx2", avx2}, {"fma", fma},
      {"avx512f", avx512f}, {"avx512cd", avx512cd}, {"avx512bw", avx512bw}, {"avx512dq", avx512dq},
      {"avx512vl", avx512vl}};
  for (const auto& [name, present] : all)
    if (present) out += (out.empty() ? "" : " ") + std::string(name);
  return out;
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  const unsigned max_leaf = a;
  __get_cpuid(1, &a, &b, &c, &d);
  f.sse3 = c & (1u << 0);
  f.ssse3 = c & (1u << 9);
  f.sse4_2 = c & (1u << 20);
  const bool osxsave = c & (1u << 27);
  const uint64_t xcr = osxsave ? xcr0() : 0;
  const bool os_avx = (xcr & 0x6) == 0x6, os_avx512 = (xcr & 0xe6) == 0xe6;
  f.avx = os_avx && (c & (1u << 28));
  f.fma = os_avx && (c & (1u << 12));
  if (max_leaf >= 7) {
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    f.avx2 = os_avx && (b & (1u << 5));
    f.avx512f = os_avx512 && (b & (1u << 16));
    f.avx512dq = os_avx512 && (b & (1u << 17));
    f.avx512cd = os_avx512 && (b & (1u << 28));
    f.avx512bw = os_avx512 && (b & (1u << 30));
    f.avx512vl = os_avx512 && (b & (1u << 31));
  }
  return f;
}

const std::vector<BlasFamily>& validated_blas_families() {
  static const std::vector<BlasFamily> families = {
      {"SkylakeX", 3,
       [](const CpuFeatures& f) {
         return f.avx512f && f.avx512cd && f.avx512bw && f.avx512dq && f.avx512vl && f.avx2 && f.fma;
       }},
      {"Haswell", 2, [](const CpuFeatures& f) { return f.avx2 && f.fma; }},
      {"Prescott", 0, [](const CpuFeatures& f) { return f.sse3; }},
  };
  return families;
}

const BlasFamily* best_blas_family(const CpuFeatures& cpu) {
  for (const BlasFamily& f : validated_blas_families())
    if (f.fits(cpu)) return &f;
  return nullptr;
}

int blas_family_tier(const std::string& name) {
  // OpenBLAS 0.3.x's x86-64 families by the widest vectors their kernels use: SSE, AVX, AVX2, AVX-512.
  static const std::map<std::string, int> tiers = {
      {"katmai", 0}, {"coppermine", 0}, {"northwood", 0}, {"prescott", 0}, {"banias", 0}, {"core2", 0},
      {"penryn", 0}, {"dunnington", 0}, {"nehalem", 0}, {"atom", 0}, {"opteron", 0}, {"opteron_sse3", 0},
      {"barcelona", 0}, {"bobcat", 0}, {"nano", 0}, {"sandybridge", 1}, {"bulldozer", 1}, {"piledriver", 1},
      {"steamroller", 1}, {"excavator", 1}, {"haswell", 2}, {"zen", 2}, {"skylakex", 3}, {"cooperlake", 3},
      {"sapphirerapids", 3}};
  const auto it = tiers.find(lower(name));
  return it == tiers.end() ? -1 : it->second;
}

std::string blas_family_in_use() { return openblas_get_corename(); }

BlasChoice choose_blas_family(const CpuFeatures& cpu, const std::string& in_use, bool set_by_user) {
  BlasChoice c;
  c.in_use = in_use;
  if (set_by_user) {
    c.reason = "set by OPENBLAS_CORETYPE";
    return c;
  }
  const BlasFamily* best = best_blas_family(cpu);
  if (!best) {
    c.reason = "OpenBLAS's choice (no validated family fits this CPU: " + cpu.names() + ")";
    return c;
  }
  if (blas_family_tier(in_use) >= best->tier) {
    c.reason = "OpenBLAS's choice, which fits this CPU";
    return c;
  }
  c.switch_to = best->name;
  c.reason = "chosen by stepwise: OpenBLAS picked " + in_use + ", below what this " + cpu.vendor + " CPU runs (" +
             cpu.names() + ")";
  return c;
}

void ensure_best_blas_family(char** argv) {
  constexpr const char* kReasonVariable = "STEPWISE_BLAS_FAMILY_REASON";
  if (const char* reason = std::getenv(kReasonVariable)) {  // this process is the re-execution
    startup_reason() = reason;
    // Children (mpirun ranks, baselines) decide for themselves, and OPENBLAS_CORETYPE stays: they take the same.
    unsetenv(kReasonVariable);
    unsetenv("STEPWISE_TEST_BLAS_FAMILY_IN_USE");
    return;
  }
  // Tests of the switch itself: STEPWISE_TEST_BLAS_FAMILY_IN_USE stands for the library's own choice, so that a
  // machine whose OpenBLAS picks well can still show the re-execution.
  const char* pretend = std::getenv("STEPWISE_TEST_BLAS_FAMILY_IN_USE");
  const BlasChoice c = choose_blas_family(detect_cpu_features(), pretend ? pretend : blas_family_in_use(),
                                          std::getenv("OPENBLAS_CORETYPE") != nullptr);
  startup_reason() = c.reason;
  if (c.switch_to.empty()) return;
  setenv("OPENBLAS_CORETYPE", c.switch_to.c_str(), 1);
  setenv(kReasonVariable, c.reason.c_str(), 1);
  execv("/proc/self/exe", argv);
  // Still here: exec failed. Carry on with the library's choice and say so.
  const int err = errno;
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kReasonVariable);
  startup_reason() = "OpenBLAS's choice (re-executing with OPENBLAS_CORETYPE=" + c.switch_to +
                     " failed: " + std::strerror(err) + "; set it yourself for faster kernels)";
}

std::string blas_family_report() {
  return "OpenBLAS kernels: " + blas_family_in_use() + " (" +
         (startup_reason().empty() ? std::string("OpenBLAS's choice") : startup_reason()) + ")";
}

}  // namespace stepwise::kernels::cpu

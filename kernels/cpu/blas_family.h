// Which OpenBLAS kernel family the CPU backend runs, and which it should. OpenBLAS (DYNAMIC_ARCH) picks its kernels
// from the CPU model when the library loads; a release older than the CPU falls back to a family far below what the
// CPU can run (Debian 12's 0.3.21 runs SSE3 "Prescott" kernels on Sapphire Rapids: 2-4x slower). The fix is
// OPENBLAS_CORETYPE, read once at load, so the `stepwise` binary sets it and re-executes itself before any work when
// the library's choice is below the best validated family that the CPU's features (cpuid, with the OS's consent
// to save AVX and AVX-512 state) allow. Validated families are those the numerics-sensitive tests run under in CI.
#pragma once

#include <string>
#include <vector>

namespace stepwise::kernels::cpu {

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  bool sse3 = false, ssse3 = false, sse4_2 = false;
  bool avx = false, avx2 = false, fma = false;  // AVX ones: also enabled by the OS (XCR0)
  bool avx512f = false, avx512cd = false, avx512bw = false, avx512dq = false, avx512vl = false;
  std::string names() const;  // "sse3 ssse3 ... avx512vl", the features present
};
CpuFeatures detect_cpu_features();

// An OpenBLAS kernel family (the names OPENBLAS_CORETYPE takes) and what it needs of the CPU.
struct BlasFamily {
  const char* name;
  int tier;  // higher: wider vectors; a family of a higher tier is faster on a CPU that fits it
  bool (*fits)(const CpuFeatures&);
};
// The families stepwise validates (best first): SkylakeX (AVX-512), Haswell (AVX2 + FMA), Prescott (SSE3).
const std::vector<BlasFamily>& validated_blas_families();
// The best validated family for `cpu`, or null when none fits.
const BlasFamily* best_blas_family(const CpuFeatures& cpu);
// The tier of any OpenBLAS family name (openblas_get_corename()'s spelling, any case); -1 when unknown.
int blas_family_tier(const std::string& name);

std::string blas_family_in_use();  // openblas_get_corename()

struct BlasChoice {
  std::string in_use;     // what OpenBLAS runs now
  std::string switch_to;  // empty: keep it
  std::string reason;     // one line for logs and `bench cpu-train`
};
// What to do, given the library's choice and whether the user set OPENBLAS_CORETYPE (always respected).
BlasChoice choose_blas_family(const CpuFeatures& cpu, const std::string& in_use, bool set_by_user);

// Called first thing in main(): when the library runs a family below the CPU's best validated one, sets
// OPENBLAS_CORETYPE and re-executes the binary (same arguments and environment); returns when there is nothing to
// do. The one-line reason is kept for blas_family_report().
void ensure_best_blas_family(char** argv);
// "OpenBLAS kernels: SkylakeX (chosen by stepwise: the library picked Prescott, below this CPU's avx512...)".
std::string blas_family_report();

}  // namespace stepwise::kernels::cpu

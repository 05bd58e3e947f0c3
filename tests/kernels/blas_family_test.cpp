// The OpenBLAS kernel family: cpuid's features agree with the kernel's /proc/cpuinfo, the family chosen for this CPU
// fits it, and the library's own choice is replaced only when it falls below what the CPU runs.
#include "kernels/cpu/blas_family.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace stepwise::kernels::cpu {
namespace {

std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  return flags;
}

// An independent reading of the features: the kernel's own (it also accounts for what the OS enables).
TEST(BlasFamily, CpuidFeaturesAgreeWithProcCpuinfo) {
  const std::set<std::string> flags = proc_cpuinfo_flags();
  ASSERT_FALSE(flags.empty()) << "/proc/cpuinfo has no flags line";
  const CpuFeatures f = detect_cpu_features();
  EXPECT_EQ(f.sse3, flags.count("pni") == 1);  // Linux calls SSE3 "pni"
  EXPECT_EQ(f.ssse3, flags.count("ssse3") == 1);
  EXPECT_EQ(f.sse4_2, flags.count("sse4_2") == 1);
  EXPECT_EQ(f.avx, flags.count("avx") == 1);
  EXPECT_EQ(f.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(f.fma, flags.count("fma") == 1);
  for (const auto& [name, present] : {std::pair<const char*, bool>{"avx512f", f.avx512f}, {"avx512cd", f.avx512cd},
                                      {"avx512bw", f.avx512bw}, {"avx512dq", f.avx512dq}, {"avx512vl", f.avx512vl}})
    EXPECT_EQ(present, flags.count(name) == 1) << name;
}

TEST(BlasFamily, TheFamilyForThisCpuFitsItsFeatures) {
  const CpuFeatures f = detect_cpu_features();
  const BlasFamily* best = best_blas_family(f);
  ASSERT_NE(best, nullptr) << "no validated family for " << f.names();
  EXPECT_TRUE(best->fits(f));
  const std::set<std::string> flags = proc_cpuinfo_flags();
  const std::string name = best->name;
  if (name == "SkylakeX") {
    for (const char* need : {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"})
      EXPECT_EQ(flags.count(need), 1u) << name << " needs " << need;
  }
  if (name == "Haswell") {
    for (const char* need : {"avx2", "fma"}) EXPECT_EQ(flags.count(need), 1u) << name << " needs " << need;
  }
  // Whatever runs after the start-up switch is at least as good as the library's choice.
  const BlasChoice c = choose_blas_family(f, blas_family_in_use(), false);
  EXPECT_GE(blas_family_tier(c.switch_to.empty() ? c.in_use : c.switch_to), blas_family_tier(c.in_use));
}

CpuFeatures avx512_cpu() {  // e.g. Sapphire Rapids, Zen 4/5
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.sse3 = f.ssse3 = f.sse4_2 = f.avx = f.avx2 = f.fma = true;
  f.avx512f = f.avx512cd = f.avx512bw = f.avx512dq = f.avx512vl = true;
  return f;
}

TEST(BlasFamily, SwitchesOnlyWhenTheLibraryFallsBelowTheCpu) {
  // OpenBLAS 0.3.21 on Sapphire Rapids: SSE3 kernels on an AVX-512 CPU.
  EXPECT_EQ(choose_blas_family(avx512_cpu(), "Prescott", false).switch_to, "SkylakeX");
  EXPECT_EQ(choose_blas_family(avx512_cpu(), "Haswell", false).switch_to, "SkylakeX");
  EXPECT_EQ(choose_blas_family(avx512_cpu(), "Cooperlake", false).switch_to, "");  // as wide as SkylakeX
  EXPECT_EQ(choose_blas_family(avx512_cpu(), "Prescott", true).switch_to, "");     // the user's choice stands
  EXPECT_EQ(choose_blas_family(avx512_cpu(), "Prescott", true).reason, "set by OPENBLAS_CORETYPE");
  CpuFeatures zen3 = avx512_cpu();  // AVX2, no AVX-512
  zen3.vendor = "AuthenticAMD";
  zen3.avx512f = zen3.avx512cd = zen3.avx512bw = zen3.avx512dq = zen3.avx512vl = false;
  EXPECT_EQ(choose_blas_family(zen3, "Zen", false).switch_to, "");
  EXPECT_EQ(choose_blas_family(zen3, "Nehalem", false).switch_to, "Haswell");
  CpuFeatures no_os_avx512 = avx512_cpu();  // the CPU has it but the OS does not save ZMM state
  no_os_avx512.avx512f = false;
  EXPECT_EQ(choose_blas_family(no_os_avx512, "Prescott", false).switch_to, "Haswell");
  CpuFeatures old;
  old.sse3 = true;
  EXPECT_EQ(choose_blas_family(old, "Core2", false).switch_to, "");  // Prescott is no better than Core2
  EXPECT_EQ(blas_family_tier("unknown-family"), -1);
}

}  // namespace
}  // namespace stepwise::kernels::cpu

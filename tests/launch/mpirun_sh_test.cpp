// launch/mpirun.sh: its options become the mpirun arguments they stand for (checked against a stand-in mpirun on
// PATH that records what it is given), its errors name the problem and exit with status 2, it passes STEPWISE_*,
// NCCL_*, UCX_* and OMP_NUM_THREADS to every rank; and real 2-rank jobs through it (plain, and with a hostfile and
// ranks per node) print what the same job prints without it, while a failing rank ends the job non-zero quickly.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "launch_test_util.h"

namespace stepwise::launch_test {
namespace {

const std::string kScript = repo_root() + "/launch/mpirun.sh";
const std::string kStepwise = build_dir() + "/bin/stepwise";
const std::string kFixture = repo_root() + "/tests/data/fixtures/qwen3-tiny-a";
constexpr double kTimeoutS = 300;  // generous for a loaded 2-core machine; a hang still ends

// What the stand-in mpirun was given: its arguments and the OMP_NUM_THREADS it saw.
struct Recorded {
  test::ProcessResult run;
  std::vector<std::string> args;
  std::string omp_threads;

  bool has(const std::vector<std::string>& seq) const {
    return std::search(args.begin(), args.end(), seq.begin(), seq.end()) != args.end();
  }
  std::string joined() const {
    std::string s;
    for (const std::string& a : args) s += "[" + a + "] ";
    return s;
  }
};

// Runs launch/mpirun.sh `options` in a clean environment (`env` assignments only, PATH with a stand-in mpirun in
// front) and parses what the stand-in recorded.
Recorded launch_with_stand_in(const std::string& options, const std::string& env = "") {
  const std::string dir = fresh_test_dir("stand-in");
  write_file(dir + "/mpirun",
             "#!/bin/sh\n"
             "for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done\n"
             "printf 'omp %s\\n' \"${OMP_NUM_THREADS-unset}\"\n",
             true);
  Recorded r;
  r.run = test::run_process("env -i PATH=" + dir + ":/usr/local/bin:/usr/bin:/bin STEPWISE_BIN=" + kStepwise + " " +
                                env + " " + kScript + " " + options,
                            {"", kTimeoutS});
  std::istringstream lines(r.run.output());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("arg ", 0) == 0) r.args.push_back(line.substr(4));
    if (line.rfind("omp ", 0) == 0) r.omp_threads = line.substr(4);
  }
  return r;
}

int usable_cores() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

TEST(MpirunScript, OptionsBecomeTheirMpirunArguments) {
  const Recorded r =
      launch_with_stand_in("-n 4 --hostfile /dev/null --ranks-per-node 2 --oversubscribe -- score --tp 2 -n 9");
  ASSERT_EQ(r.run.exit_code, 0) << r.run.output();
  EXPECT_TRUE(r.has({"-np", "4"})) << r.joined();
  EXPECT_TRUE(r.has({"--hostfile", "/dev/null"})) << r.joined();
  EXPECT_TRUE(r.has({"--map-by", "ppr:2:node"})) << r.joined();
  EXPECT_TRUE(r.has({"--oversubscribe"})) << r.joined();
  EXPECT_TRUE(r.has({"--bind-to", "none"})) << r.joined();
  EXPECT_EQ(r.has({"--allow-run-as-root"}), geteuid() == 0) << r.joined();
  // The binary, then everything after -- untouched (its own -n included), last.
  ASSERT_GE(r.args.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(r.args.end() - 6, r.args.end()),
            (std::vector<std::string>{kStepwise, "score", "--tp", "2", "-n", "9"}))
      << r.joined();
}

TEST(MpirunScript, DefaultsAreOneRankAndNoPlacement) {
  const Recorded r = launch_with_stand_in("generate --prompt-ids 1");
  ASSERT_EQ(r.run.exit_code, 0) << r.run.output();
  EXPECT_TRUE(r.has({"-np", "1"})) << r.joined();
  for (const char* absent : {"--hostfile", "--map-by", "--oversubscribe"})
    EXPECT_FALSE(r.has({absent})) << absent << ": " << r.joined();
  EXPECT_TRUE(r.has({kStepwise, "generate", "--prompt-ids", "1"})) << r.joined();
}

// The first word that is not an option starts the stepwise command: options after it are stepwise's.
TEST(MpirunScript, OptionsEndAtTheCommand) {
  const Recorded r = launch_with_stand_in("-n 2 score --oversubscribe");
  ASSERT_EQ(r.run.exit_code, 0) << r.run.output();
  EXPECT_TRUE(r.has({"-np", "2"})) << r.joined();
  EXPECT_TRUE(r.has({kStepwise, "score", "--oversubscribe"})) << r.joined();
  EXPECT_EQ(std::count(r.args.begin(), r.args.end(), "--oversubscribe"), 1) << r.joined();
}

TEST(MpirunScript, ForwardsStepwiseNcclUcxAndOmpVariablesOnly) {
  const Recorded r = launch_with_stand_in(
      "-n 2 score", "STEPWISE_COLLECTIVE_TIMEOUT_S=5 NCCL_DEBUG=INFO UCX_TLS=tcp OMP_NUM_THREADS=3 OTHER_SETTING=1");
  ASSERT_EQ(r.run.exit_code, 0) << r.run.output();
  for (const char* name : {"STEPWISE_COLLECTIVE_TIMEOUT_S", "NCCL_DEBUG", "UCX_TLS", "OMP_NUM_THREADS", "PATH"})
    EXPECT_TRUE(r.has({"-x", name})) << name << ": " << r.joined();
  EXPECT_FALSE(r.has({"-x", "OTHER_SETTING"})) << r.joined();
  EXPECT_FALSE(r.has({"-x", "CUDA_VISIBLE_DEVICES"})) << "not set, so not passed: " << r.joined();
  EXPECT_EQ(r.omp_threads, "3");  // the caller's choice wins
}

// Without OMP_NUM_THREADS each rank gets an equal share of this host's cores (at least one).
TEST(MpirunScript, OmpThreadsDefaultToTheCoresPerLocalRank) {
  const int cores = usable_cores();
  for (const auto& [options, local_ranks] : std::vector<std::pair<std::string, int>>{
           {"-n 1 score", 1}, {"-n 2 score", 2}, {"-n 8 --ranks-per-node 2 score", 2}, {"-n 64 score", 64}}) {
    const Recorded r = launch_with_stand_in(options);
    ASSERT_EQ(r.run.exit_code, 0) << r.run.output();
    EXPECT_EQ(r.omp_threads, std::to_string(std::max(1, cores / local_ranks))) << options;
    EXPECT_TRUE(r.has({"-x", "OMP_NUM_THREADS"})) << options << ": " << r.joined();
  }
}

TEST(MpirunScript, HelpPrintsTheUsageAndRunsNothing) {
  for (const char* flag : {"-h", "--help", "-n 2 --help"}) {
    const Recorded r = launch_with_stand_in(flag);
    EXPECT_EQ(r.run.exit_code, 0) << flag << "\n" << r.run.output();
    EXPECT_NE(r.run.output().find("launch/mpirun.sh [-n RANKS] [--hostfile FILE] [--ranks-per-node R]"),
              std::string::npos)
        << r.run.output();
    EXPECT_NE(r.run.output().find("STEPWISE_BIN"), std::string::npos) << r.run.output();
    EXPECT_TRUE(r.args.empty()) << "mpirun must not run: " << r.joined();
  }
}

TEST(MpirunScript, BadInvocationsExitWithStatus2AndSayWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-n 0 score", "-n needs a positive rank count, got '0'"},
      {"-n two score", "-n needs a positive rank count, got 'two'"},
      {"-n -3 score", "-n needs a positive rank count, got '-3'"},
      {"-n", "-n needs a value"},
      {"--hostfile", "--hostfile needs a value"},
      {"--hostfile /nonexistent/hosts score", "cannot read hostfile '/nonexistent/hosts'"},
      {"--ranks-per-node 0 score", "--ranks-per-node needs a positive count, got '0'"},
      {"--ranks-per-node", "--ranks-per-node needs a value"},
      {"--nodes 2 score", "unknown option --nodes"},
      {"", "give a stepwise command"},
      {"-n 2 --", "give a stepwise command"},
  };
  for (const auto& [options, message] : cases) {
    const Recorded r = launch_with_stand_in(options);
    EXPECT_EQ(r.run.exit_code, 2) << options << "\n" << r.run.output();
    EXPECT_NE(r.run.output().find("launch/mpirun.sh: " + message), std::string::npos) << options << "\n"
                                                                                      << r.run.output();
    EXPECT_TRUE(r.args.empty()) << options << ": mpirun must not run: " << r.joined();
  }
}

TEST(MpirunScript, MissingBinaryIsAnErrorNamingIt) {
  const test::ProcessResult r =
      test::run_process("env STEPWISE_BIN=/nonexistent/stepwise " + kScript + " -n 2 score", {"", kTimeoutS});
  EXPECT_EQ(r.exit_code, 2) << r.output();
  EXPECT_NE(r.output().find("STEPWISE_BIN=/nonexistent/stepwise is not an executable file"), std::string::npos)
      << r.output();
}

// Real jobs (Open MPI). One OpenMP thread per rank, so that both runs compute the same sums in the same order.
std::string real_launch(const std::string& options, const std::string& bin = kStepwise) {
  return "env OMP_NUM_THREADS=1 STEPWISE_BIN=" + bin + " " + kScript + " " + options;
}

// The same job through the script and through mpirun directly prints the same bytes.
TEST(MpirunScript, TwoRankScoreEqualsTheDirectMpirunJob) {
  const std::string dir = fresh_test_dir("score");
  write_file(dir + "/ids.jsonl", "[3, 14, 15, 92, 65, 35, 89, 79]\n[2, 71, 82, 81, 82, 84]\n");
  const std::string args = " score --tp 2 --model " + kFixture + " --tokens " + dir + "/ids.jsonl";
  const test::ProcessResult via_script =
      test::run_process(real_launch("-n 2 --oversubscribe" + args) + " 2>/dev/null", {"", kTimeoutS});
  const test::ProcessResult direct = test::run_process(
      std::string(STEPWISE_MPIRUN) + " -np 2 -x OMP_NUM_THREADS=1 " + kStepwise + args + " 2>/dev/null",
      {"", kTimeoutS});
  ASSERT_EQ(direct.exit_code, 0) << direct.output();
  ASSERT_EQ(via_script.exit_code, 0) << via_script.output();
  EXPECT_EQ(std::count(via_script.out.begin(), via_script.out.end(), '\n'), 2) << via_script.output();
  EXPECT_NE(via_script.output().find("\"logprobs\""), std::string::npos) << via_script.output();
  EXPECT_EQ(via_script.output(), direct.output());
}

// --hostfile and --ranks-per-node on a one-host "cluster": the 2-rank generation equals the single-process one.
TEST(MpirunScript, HostfileWithRanksPerNodeRunsTheJob) {
  const std::string dir = fresh_test_dir("hostfile");
  write_file(dir + "/hosts", "localhost slots=2\n");
  const std::string args = " generate --model " + kFixture + " --prompt-ids 3,14,15,92 --max-new-tokens 8";
  const test::ProcessResult split = test::run_process(
      real_launch("-n 2 --hostfile " + dir + "/hosts --ranks-per-node 2" + args + " --tp 2") + " 2>/dev/null",
      {"", kTimeoutS});
  const test::ProcessResult single =
      test::run_process("env OMP_NUM_THREADS=1 " + kStepwise + args + " 2>/dev/null", {"", kTimeoutS});
  ASSERT_EQ(single.exit_code, 0) << single.output();
  ASSERT_EQ(split.exit_code, 0) << split.output();
  EXPECT_EQ(split.output(), single.output());
}

// Every rank sees the variables: each of the 2 ranks prints them.
TEST(MpirunScript, RanksSeeTheForwardedVariables) {
  const test::ProcessResult r =
      test::run_process("env -u OMP_NUM_THREADS STEPWISE_PROBE=from-caller STEPWISE_BIN=/usr/bin/printenv " + kScript +
                            " -n 2 --oversubscribe -- STEPWISE_PROBE OMP_NUM_THREADS",
                        {"", kTimeoutS});
  ASSERT_EQ(r.exit_code, 0) << r.output();
  const std::string threads = std::to_string(std::max(1, usable_cores() / 2));
  std::istringstream lines(r.output());
  int probes = 0, omp = 0;
  for (std::string line; std::getline(lines, line);) {
    probes += line == "from-caller";
    omp += line == threads;
  }
  EXPECT_EQ(probes, 2) << r.output();
  EXPECT_EQ(omp, 2) << r.output();
}

TEST(MpirunScript, FailingRankEndsTheJobNonZeroWithinSeconds) {
  const test::ProcessResult r =
      test::run_process(real_launch("-n 2 --oversubscribe throw", STEPWISE_FAILURE_PROBE), {"", kTimeoutS});
  EXPECT_NE(r.exit_code, 0) << r.output();
  EXPECT_FALSE(r.timed_out) << r.output();
  EXPECT_LT(r.seconds, 30.0) << "the job should end within seconds, not hang:\n" << r.output();
  EXPECT_NE(r.output().find("rank 1 of 2: error: failure_probe: rank 1 fails on purpose"), std::string::npos)
      << r.output();
}

}  // namespace
}  // namespace stepwise::launch_test

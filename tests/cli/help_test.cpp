// The command line's help and its answers to typos, for every command, taken from the command tree itself
// (cli/command_line.h) so that a flag added without help fails here: `stepwise PATH --help` (and `stepwise help
// PATH`) shows every flag the command declares, each with a description and its default, and an example; a
// mistyped flag or command gets one error line suggesting the nearest known name. The binary runs once per command
// (a CUDA build spends ~0.5 s loading its libraries at each start); the typo of every flag, and `stepwise help
// PATH`, run through the same CommandLine in this process.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/suggest.h"
#include "common/process.h"
#include "train/train_config.h"

namespace stepwise::cli {
namespace {

using test::ProcessResult;

struct FlagInfo {
  std::string name;  // without the dashes
  std::string description, default_value;
  bool shows_default = false;
};

struct CommandInfo {
  std::string path;  // "bench cpu-train"
  std::vector<FlagInfo> flags;
  std::vector<std::string> subcommands;
  bool runnable = false;
};

void collect(const CommandLine& cli, const CLI::App& app, const std::string& path, std::vector<CommandInfo>& out) {
  CommandInfo info;
  info.path = path;
  info.runnable = cli.runnable(app);
  for (const CLI::Option* flag : app.get_options()) {
    for (const std::string& name : flag->get_lnames()) {
      const std::string value = flag->get_default_str();
      info.flags.push_back({name, flag->get_description(), value,
                            flag->get_type_size() != 0 && !flag->get_required() && !value.empty() && value != "[]"});
    }
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    info.subcommands.push_back(sub->get_name());
    collect(cli, *sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
  out.push_back(info);
}

// Every command of the tree, the root ("") included.
const std::vector<CommandInfo>& commands() {
  static const std::vector<CommandInfo> all = [] {
    CommandLine cli;
    std::vector<CommandInfo> out;
    collect(cli, cli.root(), "", out);
    return out;
  }();
  return all;
}

ProcessResult stepwise(const std::string& args) {
  return test::run_process(test::stepwise_binary() + " " + args, {"", 60});
}

// `stepwise ARGS` run by a CommandLine in this process, its stdout and stderr captured. Only for arguments that end
// in help or an error: a command that parses runs here.
ProcessResult in_process(const std::string& args) {
  std::vector<std::string> words = {"stepwise"};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  CommandLine cli;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  ProcessResult r;
  r.exit_code = cli.run(static_cast<int>(argv.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

// "--name" in the text as a whole flag (not the start of a longer one).
bool mentions_flag(const std::string& text, const std::string& name) {
  return std::regex_search(text, std::regex("--" + name + "([^a-z0-9-]|$)"));
}

TEST(Help, TheTreeHasEveryCommand) {
  std::vector<std::string> paths;
  for (const CommandInfo& c : commands()) paths.push_back(c.path);
  for (const char* path :
       {"score", "generate", "bench", "bench cpu-train", "bench gpu-train", "bench gpu-decode", "bench gpu-prefill",
        "bench scaling", "tokenize", "data", "data prepare", "train", "export", "demo", "help"})
    EXPECT_NE(std::find(paths.begin(), paths.end(), path), paths.end()) << path;
}

TEST(Help, EveryCommandShowsEveryFlagItsDefaultAndAnExample) {
  for (const CommandInfo& c : commands()) {
    SCOPED_TRACE("stepwise " + c.path);
    const ProcessResult help = stepwise(c.path + " --help");
    ASSERT_EQ(help.exit_code, 0) << help.describe();
    EXPECT_EQ(help.err, "");
    for (const FlagInfo& flag : c.flags) {
      EXPECT_FALSE(flag.description.empty()) << "--" << flag.name << " has no help";
      EXPECT_TRUE(mentions_flag(help.out, flag.name)) << "--" << flag.name << " is not in:\n" << help.out;
      if (flag.shows_default) {
        EXPECT_NE(help.out.find("[default: " + flag.default_value + "]"), std::string::npos)
            << "--" << flag.name << "'s default " << flag.default_value << " is not in:\n"
            << help.out;
      }
    }
    for (const std::string& sub : c.subcommands)
      EXPECT_TRUE(std::regex_search(help.out, std::regex("\n  " + sub + " "))) << sub << " is not listed in:\n"
                                                                               << help.out;
    const size_t example = help.out.find("Example:\n");
    ASSERT_NE(example, std::string::npos) << help.out;
    EXPECT_NE(help.out.find("stepwise " + c.path, example), std::string::npos) << "no example of it:\n" << help.out;
    EXPECT_EQ(in_process("help " + c.path).out, help.out) << "`stepwise help " << c.path << "` differs";
  }
}

TEST(Help, NoCommandShowsTheCommandsAndFails) {
  const ProcessResult r = stepwise("");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  for (const CommandInfo& c : commands()) {
    if (c.path.empty() || c.path.find(' ') != std::string::npos) continue;  // the top-level commands
    EXPECT_NE(r.err.find("\n  " + c.path + " "), std::string::npos) << c.path << " is not in:\n" << r.err;
  }
}

// `name` with two characters in its middle swapped (or one dropped when they are equal): a typo.
std::string typo_of(const std::string& name) {
  std::string t = name;
  const size_t i = t.size() / 2;
  if (t[i - 1] != t[i])
    std::swap(t[i - 1], t[i]);
  else
    t.erase(i, 1);
  return t;
}

void expect_one_error_line(const ProcessResult& r, int exit_code, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, exit_code) << r.describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line:\n" << r.err;
  for (const std::string& part : parts) EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in: " << r.err;
}

// For every flag of every command in this process, and for the first flag of each through the binary too.
TEST(Help, MistypedFlagSuggestsTheNearest) {
  for (const CommandInfo& c : commands()) {
    if (c.path.empty() || !c.runnable) continue;
    bool first = true;
    for (const FlagInfo& flag : c.flags) {
      if (flag.name == "help") continue;
      const std::string args = c.path + " --" + typo_of(flag.name);
      SCOPED_TRACE("stepwise " + args);
      std::vector<ProcessResult> runs = {in_process(args)};
      if (first) runs.push_back(stepwise(args));
      first = false;
      for (const ProcessResult& r : runs) {
        expect_one_error_line(
            r, 1, {"stepwise " + c.path + ": error: unknown flag --" + typo_of(flag.name) + " (did you mean "});
        const std::string suggestion = r.err.substr(std::min(r.err.find("did you mean"), r.err.size()));
        EXPECT_TRUE(mentions_flag(suggestion.substr(0, suggestion.find('?')), flag.name)) << r.err;
      }
    }
  }
}

TEST(Help, MistypedCommandSuggestsTheNearest) {
  expect_one_error_line(stepwise("scroe --model x"), 2,
                        {"stepwise: error: unknown command 'scroe' (did you mean score?)"});
  expect_one_error_line(stepwise("bench cpu-trian"), 1,
                        {"stepwise bench: error: unknown benchmark 'cpu-trian' (did you mean cpu-train?)"});
  expect_one_error_line(stepwise("data prepaer"), 1, {"unknown subcommand 'prepaer' (did you mean prepare?)"});
  expect_one_error_line(stepwise("help tokenise"), 2, {"unknown command 'tokenise' (did you mean tokenize?)"});
  expect_one_error_line(stepwise("bench"), 1, {"stepwise bench: error: name a benchmark: cpu-train, "});
}

// The config reference comes from the schema that parses the YAML, without a --config (required otherwise).
TEST(Help, TrainPrintsTheConfigReference) {
  const ProcessResult r = stepwise("train --help-config");
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, train_config_schema().markdown_reference());
  EXPECT_NE(r.out.find("| `optimizer.lr` |"), std::string::npos) << r.out;
}

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("model", "model"), 0);
  EXPECT_EQ(edit_distance("modle", "model"), 1);  // adjacent swap
  EXPECT_EQ(edit_distance("top_p", "top-p"), 1);  // substitution
  EXPECT_EQ(edit_distance("tokenzer", "tokenizer"), 1);
  EXPECT_EQ(edit_distance("", "seed"), 4);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
}

TEST(Suggest, NearestNames) {
  const std::vector<std::string> flags = {"model", "tokens", "tp", "top-k", "top-p", "max-new-tokens"};
  EXPECT_EQ(nearest_names("modle", flags), std::vector<std::string>{"model"});
  EXPECT_EQ(nearest_names("top-q", flags), (std::vector<std::string>{"top-k", "top-p"}));  // ties: both
  EXPECT_EQ(nearest_names("max-new", flags), std::vector<std::string>{"max-new-tokens"});  // a cut-off name
  EXPECT_EQ(nearest_names("bogus", flags), std::vector<std::string>{});
  EXPECT_EQ(nearest_names("x", flags), std::vector<std::string>{});
}

}  // namespace
}  // namespace stepwise::cli

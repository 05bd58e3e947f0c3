// The command tree, the help layout, and turning a parse into a command run or a one-line error.
#include "cli/command_line.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/suggest.h"

namespace stepwise::cli {

namespace {

constexpr size_t kHelpWidth = 118, kFlagColumn = 32;

// `text`, then `trailer` (kept whole), with line breaks between words where a line would pass `width` (CLI11
// indents the next line).
std::string wrapped(const std::string& text, const std::string& trailer, size_t width) {
  std::vector<std::string> words;
  for (size_t b = 0; b < text.size();) {
    const size_t e = std::min(text.find(' ', b), text.size());
    words.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  if (!trailer.empty()) words.push_back(trailer);
  std::string out;
  size_t line = 0;
  for (const std::string& word : words) {
    if (line > 0) {
      const bool breaks = line + 1 + word.size() > width;
      out += breaks ? '\n' : ' ';
      line = breaks ? 0 : line + 1;
    }
    out += word;
    line += word.size();
  }
  return out;
}

// CLI11's layout, with the default at the end of a flag's help ("[default: 32]") instead of "N=32" beside its name,
// and the help wrapped.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* flag) const override {
    std::string out;
    if (flag->get_type_size() != 0) {
      out += " " + flag->get_type_name();
      if (flag->get_required()) out += " REQUIRED";
    }
    for (const auto& [label, others] : {std::pair{"Needs", flag->get_needs()}, {"Excludes", flag->get_excludes()}}) {
      if (others.empty()) continue;
      out += std::string(" ") + label + ":";
      for (const CLI::Option* other : others) out += " " + other->get_name();
    }
    return out;
  }

  std::string make_option_desc(const CLI::Option* flag) const override {
    const std::string value = flag->get_default_str();
    const bool shows_default = flag->get_type_size() != 0 && !flag->get_required() && !value.empty() && value != "[]";
    return wrapped(flag->get_description(), shows_default ? "[default: " + value + "]" : "", kHelpWidth - kFlagColumn);
  }
};

std::string one_line(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

void print_error(const CLI::App& command, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n", command_path(command).c_str(), one_line(message).c_str());
}

std::string see_help(const CLI::App& command) { return "see `" + command_path(command) + " --help`"; }

// What no flag or positional took. CLI11 keeps the "--" that ends the flags among them when extras are allowed;
// the positionals after it were taken (client jobs submit ... -- ARGS), so it is no leftover.
std::vector<std::string> leftover_arguments(const CLI::App& root) {
  std::vector<std::string> left = root.remaining(true);
  left.erase(std::remove(left.begin(), left.end(), "--"), left.end());
  return left;
}

CLI::App& deepest_selected(CLI::App& root) {
  CLI::App* app = &root;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return *app;
}

std::vector<const CLI::App*> subcommands_of(const CLI::App& command) {
  return command.get_subcommands([](const CLI::App*) { return true; });
}
std::vector<CLI::App*> subcommands_of(CLI::App& command) {
  return command.get_subcommands([](CLI::App*) { return true; });
}

std::string joined(const std::vector<std::string>& names, const std::string& separator) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : separator) + n;
  return out;
}

// What the command's subcommands are called ("Benchmarks" -> "benchmark"), from the heading its help lists them
// under.
std::string subcommand_noun(const CLI::App& command) {
  std::string noun = subcommands_of(command).front()->get_group();
  for (char& c : noun) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!noun.empty() && noun.back() == 's') noun.pop_back();
  return noun;
}

std::vector<std::string> subcommand_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* sub : subcommands_of(command)) names.push_back(sub->get_name());
  return names;
}

// The error for the first argument that no flag or subcommand of `command` took: a mistyped flag or command gets
// the nearest known names.
std::string unexpected_argument_error(const CLI::App& command, const std::string& arg) {
  if (arg.size() > 1 && arg[0] == '-' && arg.find_first_not_of('-') != std::string::npos) {
    const std::string typed = arg.substr(arg.find_first_not_of('-'), arg.find('=') - arg.find_first_not_of('-'));
    std::vector<std::string> known;
    for (const CLI::Option* flag : command.get_options())
      for (const std::string& name : flag->get_lnames()) known.push_back(name);
    std::string message = "unknown flag --" + typed;
    const std::vector<std::string> near = nearest_names(typed, known);
    if (!near.empty()) message += " (did you mean --" + joined(near, " or --") + "?)";
    return message + "; " + see_help(command) + " for its flags";
  }
  if (subcommands_of(command).empty())
    return "unexpected argument '" + arg + "' (flags start with --); " + see_help(command);
  const std::vector<std::string> known = subcommand_names(command), near = nearest_names(arg, known);
  std::string message = "unknown " + subcommand_noun(command) + " '" + arg + "'";
  if (!near.empty()) message += " (did you mean " + joined(near, " or ") + "?)";
  return message + "; known: " + joined(known, ", ");
}

// CLI11's message for a parse error, reworded where it does not name the flag plainly.
std::string parse_error_message(const CLI::ParseError& e, const CLI::App& command) {
  const std::string what = e.what(), name = e.get_name();
  if (name == "RequiredError" && what.size() > 12 && what.compare(what.size() - 12, 12, " is required") == 0)
    return "missing required flag " + what.substr(0, what.size() - 12) + "; " + see_help(command);
  const std::string convert = "Could not convert: ";
  if (name == "ConversionError" && what.rfind(convert, 0) == 0 && what.find(" = ") != std::string::npos) {
    const size_t eq = what.find(" = ");
    const std::string flag = what.substr(convert.size(), eq - convert.size()), value = what.substr(eq + 3);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (!value.empty() && !*end) return flag + ": " + value + " is not a whole number in range";
    return flag + ": cannot read '" + value + "'; " + see_help(command);
  }
  if (name == "ArgumentMismatch" && what.find("missing") != std::string::npos)
    return what.substr(0, what.find(':')) + " needs a value; " + see_help(command);
  return what;
}

}  // namespace

std::string command_path(const CLI::App& command) {
  return command.get_parent() ? command_path(*command.get_parent()) + " " + command.get_name() : command.get_name();
}

CommandLine::CommandLine()
    : root_(
          "stepwise: supervised fine-tuning and serving of Qwen3-architecture reasoning models (CPU reference "
          "path, CUDA backend, tensor x data parallelism over MPI)",
          "stepwise") {
  root_.formatter(std::make_shared<HelpFormatter>());
  root_.get_formatter()->column_width(kFlagColumn);
  // Every flag keeps its last value when given twice, and shows its default in the help.
  root_.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Arguments no flag takes are collected, not thrown: run() reports them with the nearest known names.
  root_.allow_extras();
  // One command per run: after it, a command's name is an argument (`stepwise help score`), not a second command.
  root_.require_subcommand(0, 1);
  root_.footer(
      "Run `stepwise help COMMAND` or `stepwise COMMAND --help` for a command's flags.\nExample:\n"
      "  stepwise demo --out runs/demo");
  for (auto add : {add_score_command, add_generate_command, add_bench_command, add_tokenize_command, add_data_command,
                   add_train_command, add_export_command, add_convert_command, add_serve_command, add_worker_command, add_client_command, add_demo_command, add_eval_command,
                   add_distill_command})
    add(*this, root_);
  CLI::App& help =
      add_command(root_, "help", "the help of a command (all commands without one)", "stepwise help bench cpu-train");
  help.add_option("command", help_path_, "a command, and a subcommand of it (bench NAME, data prepare)")
      ->type_name("COMMAND");
  on_run(help, [this] { return run_help(help_path_); });
  set_subcommand_heading(root_, "Commands");
}

void CommandLine::on_run(const CLI::App& command, std::function<int()> body) { bodies_[&command] = std::move(body); }

int CommandLine::run_help(const std::vector<std::string>& path) {
  CLI::App* command = &root_;
  for (const std::string& name : path) {
    CLI::App* next = nullptr;
    for (CLI::App* sub : subcommands_of(*command))
      if (sub->get_name() == name) next = sub;
    if (!next) {
      print_error(*command, unexpected_argument_error(*command, name));
      return command == &root_ ? 2 : 1;
    }
    command = next;
  }
  // The formatter directly: App::help() would show the selected command's help, here `help`'s own.
  std::fputs(command->get_formatter()->make_help(command, command_path(*command), CLI::AppFormatMode::Normal).c_str(),
             stdout);
  return 0;
}

int CommandLine::run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(root_.help().c_str(), stderr);
    return 2;
  }
  try {
    root_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(root_.help().c_str(), stdout);
    return 0;
  } catch (const CLI::Success&) {  // a flag that printed what was asked for (train --help-config)
    return 0;
  } catch (const CLI::ParseError& e) {
    // A mistyped flag often causes the error (a required flag "missing"): name it first.
    CLI::App& command = deepest_selected(root_);
    const std::vector<std::string> leftovers = leftover_arguments(root_);
    print_error(command, leftovers.empty() ? parse_error_message(e, command)
                                           : unexpected_argument_error(command, leftovers.front()));
    return 1;
  }
  CLI::App& command = deepest_selected(root_);
  const std::vector<std::string> leftovers = leftover_arguments(root_);
  if (!leftovers.empty()) {
    print_error(command, unexpected_argument_error(command, leftovers.front()));
    return &command == &root_ ? 2 : 1;
  }
  if (!runnable(command)) {
    print_error(command, "name a " + subcommand_noun(command) + ": " + joined(subcommand_names(command), ", ") + "; " +
                             see_help(command));
    return &command == &root_ ? 2 : 1;
  }
  try {
    return bodies_.at(&command)();
  } catch (const std::exception& e) {
    print_error(command, e.what());
    return 1;
  }
}

std::string CommandLine::check(const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes a vector back to front
  try {
    root_.parse(reversed);
  } catch (const CLI::Success&) {
    return "it asks for help, not for a run";
  } catch (const CLI::ParseError& e) {
    CLI::App& command = deepest_selected(root_);
    const std::vector<std::string> leftovers = leftover_arguments(root_);
    return command_path(command) + ": " +
           one_line(leftovers.empty() ? parse_error_message(e, command)
                                      : unexpected_argument_error(command, leftovers.front()));
  }
  CLI::App& command = deepest_selected(root_);
  const std::vector<std::string> leftovers = leftover_arguments(root_);
  if (!leftovers.empty()) return command_path(command) + ": " + unexpected_argument_error(command, leftovers.front());
  if (!runnable(command))
    return "`" + command_path(command) + "` is not a command of this stepwise build (" + see_help(command) + ")";
  return "";
}

}  // namespace stepwise::cli

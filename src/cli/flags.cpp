// Command and flag declarations shared by the cmd_<name>.cpp and bench_<name>.cpp files.
#include "cli/flags.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>

#include "io/hf_config.h"

namespace stepwise::cli {

namespace {

std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::optional<double> parse_number(const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || *end) return std::nullopt;
  return x;
}

// A numeric check: `accept` decides, `bound` says what is accepted ("in (0, 1]").
CLI::Option* number_check(CLI::Option* flag, const std::string& bound, std::function<bool(double)> accept) {
  return check_value(flag, bound, [bound, accept = std::move(accept)](const std::string& value) -> std::string {
    const std::optional<double> x = parse_number(value);
    if (!x) return "expects a number, got '" + value + "'";
    if (!accept(*x)) return "must be " + bound + ", got " + value;
    return "";
  });
}

}  // namespace

CLI::Option* check_value(CLI::Option* flag, const std::string& note,
                         std::function<std::string(const std::string& value)> error) {
  flag->check(CLI::Validator([error = std::move(error)](std::string& value) { return error(value); }, ""));
  flag->description(flag->get_description() + " (" + note + ")");
  return flag;
}

CLI::App& add_command(CLI::App& parent, const std::string& name, const std::string& summary, const std::string& example,
                      const std::string& details) {
  CLI::App* command = parent.add_subcommand(name, summary);
  std::string indented;
  for (size_t b = 0; b < example.size();) {
    const size_t e = std::min(example.find('\n', b), example.size());
    indented += "  " + example.substr(b, e - b) + "\n";
    b = e + 1;
  }
  command->footer((details.empty() ? "" : details + "\n\n") + "Example:\n" + indented);
  return *command;
}

void set_subcommand_heading(CLI::App& command, const std::string& heading) {
  for (CLI::App* sub : command.get_subcommands([](CLI::App*) { return true; })) sub->group(heading);
}

CLI::Option* at_least(CLI::Option* flag, double min) {
  return number_check(flag, ">= " + number_text(min), [min](double x) { return x >= min; });
}

CLI::Option* in_range(CLI::Option* flag, double min, double max, bool min_excluded) {
  const std::string bound =
      std::string("in ") + (min_excluded ? "(" : "[") + number_text(min) + ", " + number_text(max) + "]";
  return number_check(flag, bound, [=](double x) { return (min_excluded ? x > min : x >= min) && x <= max; });
}

CLI::Option* one_of(CLI::Option* flag, const std::vector<std::string>& values) {
  std::string list;
  for (const std::string& v : values) list += (list.empty() ? "" : ", ") + v;
  return check_value(flag, "one of: " + list, [values, list](const std::string& value) -> std::string {
    for (const std::string& v : values)
      if (v == value) return "";
    return "'" + value + "' is not one of " + list;
  });
}

CLI::Option* existing_file(CLI::Option* flag) { return flag->check(CLI::ExistingFile.description("")); }
CLI::Option* existing_dir(CLI::Option* flag) { return flag->check(CLI::ExistingDirectory.description("")); }

CLI::Option* add_model_flag(CLI::App& command, std::string& dir) {
  return existing_dir(command
                          .add_option("--model", dir,
                                      "a Hugging Face model folder: config.json and model.safetensors (or a "
                                      "sharded index), float32/bfloat16/float16")
                          ->required()
                          ->type_name("DIR"));
}

CLI::Option* add_tp_flag(CLI::App& command, int& tp) {
  return at_least(command
                      .add_option("--tp", tp,
                                  "tensor-parallel ranks the model is split over; above 1, run under `mpirun -np "
                                  "N` (launch/mpirun.sh) and only rank 0 prints")
                      ->type_name("N"),
                  1);
}

CLI::Option* add_tokenizer_flag(CLI::App& command, std::string& dir, const std::string& use) {
  // Checked here rather than at loading so that the error comes before any work and names the flag.
  CLI::Option* flag = command.add_option("--tokenizer", dir, use.empty() ? "a Hugging Face tokenizer folder" : use)
                          ->required(use.empty())
                          ->type_name("DIR");
  return check_value(
      flag, "holding tokenizer.json and tokenizer_config.json", [](const std::string& value) -> std::string {
        const std::string file = value + "/tokenizer.json";
        if (!std::filesystem::exists(file))
          return "no " + file + " (a Hugging Face tokenizer folder holds tokenizer.json and tokenizer_config.json)";
        return "";
      });
}

CLI::Option* add_preset_flag(CLI::App& command, std::string& preset) {
  return one_of(
      command.add_option("--preset", preset, "the model (configs/models/NAME.json), random weights")->type_name("NAME"),
      qwen3_preset_names());
}

CLI::Option* add_threads_flag(CLI::App& command, int& threads) {
  threads = omp_get_max_threads();
  return at_least(command.add_option("--threads", threads, "CPU threads (OpenMP)")->type_name("N"), 1);
}

void add_timing_flags(CLI::App& command, const std::string& name, int64_t& count, int64_t& warmup) {
  at_least(command.add_option("--" + name, count, "timed " + name + "; the median is reported")->type_name("N"), 1);
  at_least(command.add_option("--warmup", warmup, "untimed " + name + " before them")->type_name("N"), 0);
}

CLI::Option* add_baseline_flag(CLI::App& command, std::string& path) {
  return command
      .add_option("--baseline", path,
                  "the PyTorch measurements that hf_baseline.py --out wrote on this GPU; without it, no "
                  "baseline is printed")
      ->type_name("FILE");
}

void add_shape_flags(CLI::App& command, int64_t& batch, int64_t& seq) {
  at_least(command.add_option("--batch", batch, "documents per step")->type_name("B"), 1);
  at_least(command.add_option("--seq", seq, "tokens per document")->type_name("T"), 2);
}

}  // namespace stepwise::cli

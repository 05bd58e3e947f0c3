// Job specs: checks at submit, commands at launch.
#include "serve/job_spec.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "core/status.h"
#include "train/train_config.h"
#include "train/training_checkpoint.h"

namespace stepwise::serve {

namespace {

namespace fs = std::filesystem;

constexpr const char* kConfigSource = "config_yaml";  // how errors name the spec's config text

std::string absolute_from(const std::string& workdir, const std::string& path) {
  if (path.empty()) return path;
  return fs::path(path).is_absolute() ? fs::path(path).lexically_normal().string()
                                      : (fs::path(workdir) / path).lexically_normal().string();
}

// "config_yaml:LINE" of `section.key` in the config text, or "config_yaml" when the key is not written there
// (given by --set in args, or a default).
std::string where(const std::string& yaml, const std::string& section, const std::string& key) {
  try {
    const YAML::Node node = YAML::Load(yaml)[section][key];
    if (node && node.Mark().line >= 0) return std::string(kConfigSource) + ":" + std::to_string(node.Mark().line + 1);
  } catch (const YAML::Exception&) {
  }
  return kConfigSource;
}

// The --set overrides of an sft spec's args ("--set K=V" or "--set=K=V"); anything else is refused by name.
std::vector<std::string> sft_overrides(const v1::JobSpec& spec) {
  std::vector<std::string> out;
  const auto& a = spec.args();
  for (int i = 0; i < a.size(); ++i) {
    if (a[i] == "--set" && i + 1 < a.size()) {
      out.push_back(a[++i]);
    } else if (a[i].rfind("--set=", 0) == 0) {
      out.push_back(a[i].substr(6));
    } else {
      invalid_argument("args[", i, "] '", a[i], "': an sft job takes only --set SECTION.KEY=VALUE in args (the ",
                       "rest of the run is its config_yaml)");
    }
  }
  return out;
}

// A path of the config must exist on the coordinator's host (where the job runs, or a filesystem it shares with
// the cluster): caught at submit rather than minutes later in a rank's log.
void require_path(const std::string& yaml, const std::string& section, const std::string& key,
                  const std::string& value, const std::string& workdir) {
  if (value.empty()) return;
  const std::string path = absolute_from(workdir, value);
  if (!fs::exists(path))
    invalid_argument(where(yaml, section, key), ": ", section, ".", key, ": ", path,
                     " does not exist (relative paths are from the coordinator's working directory, ", workdir, ")");
}

// A tokenizer for the exported model: the folder of the Hugging Face model the run started from, when it has one.
std::string tokenizer_dir(const TrainConfig& config) {
  for (const std::string& dir :
       {config.model.init.kind == ModelInit::Kind::kHuggingFace ? config.model.init.dir : std::string(),
        config.model.config.rfind("hf:", 0) == 0 ? config.model.config.substr(3) : std::string()})
    if (!dir.empty() && fs::exists(fs::path(dir) / "tokenizer.json")) return dir;
  return "";
}

}  // namespace

std::vector<std::string> kind_command(const std::string& kind) {
  if (kind == "sft") return {"train"};
  if (kind == "data_prepare") return {"data", "prepare"};
  if (kind == "convert" || kind == "eval" || kind == "distill") return {kind};
  return {};
}

std::string check_job_spec(v1::JobSpec& spec, const std::string& workdir, const JobLimits& limits,
                           const CommandCheck& check_command) {
  if (kind_command(spec.kind()).empty())
    invalid_argument("kind '", spec.kind(), "': give sft, data_prepare, convert, eval or distill");
  if (spec.launcher().empty()) spec.set_launcher("local");
  if (spec.launcher() != "local" && spec.launcher() != "slurm")
    invalid_argument("launcher '", spec.launcher(), "': give local (mpirun on the coordinator's host) or slurm");
  if (spec.launcher() == "slurm" && !limits.slurm)
    invalid_argument("launcher slurm: this coordinator has no Slurm (sbatch not found on its PATH); use local");
  if (spec.launcher() == "local" && !spec.slurm_args().empty())
    invalid_argument("slurm_args: only for launcher slurm");
  if (spec.ranks() < 0) invalid_argument("ranks ", spec.ranks(), ": give a positive count (0: the default)");

  std::string output_dir;
  if (spec.kind() == "sft") {
    if (spec.config_yaml().empty()) invalid_argument("config_yaml: an sft job needs its config (configs/sft/*.yaml)");
    const TrainConfig config = parse_train_config(spec.config_yaml(), kConfigSource, sft_overrides(spec));
    const int tp = config.run.tp, dp = config.run.dp;
    if (spec.ranks() == 0) {
      if (dp == 0) invalid_argument("ranks: give the job's rank count (the config's run.dp is 0: world size / tp)");
      spec.set_ranks(tp * dp);
    }
    if (dp > 0 && spec.ranks() != tp * dp)
      invalid_argument("ranks ", spec.ranks(), ": the config's run.tp x run.dp is ", tp, " x ", dp, " = ", tp * dp);
    if (dp == 0 && spec.ranks() % tp != 0)
      invalid_argument("ranks ", spec.ranks(), ": not a multiple of the config's run.tp ", tp);
    require_path(spec.config_yaml(), "data", "train", config.data.train, workdir);
    require_path(spec.config_yaml(), "data", "eval", config.data.eval, workdir);
    if (config.model.init.kind != ModelInit::Kind::kRandom)
      require_path(spec.config_yaml(), "model", "init", config.model.init.dir, workdir);
    if (config.model.config.rfind("hf:", 0) == 0)
      require_path(spec.config_yaml(), "model", "config", config.model.config.substr(3), workdir);
    output_dir = absolute_from(workdir, config.run.output_dir);
  } else {
    if (!spec.config_yaml().empty())
      invalid_argument("config_yaml: only for kind sft (", spec.kind(), " takes its flags in args)");
    if (spec.ranks() == 0) spec.set_ranks(1);
    std::vector<std::string> command = kind_command(spec.kind());
    command.insert(command.end(), spec.args().begin(), spec.args().end());
    const std::string problem = check_command(command);
    if (!problem.empty()) {
      std::string shown = "stepwise";
      for (const std::string& a : command) shown += " " + a;
      invalid_argument("args: `", shown, "` would not run: ", problem);
    }
  }
  if (spec.launcher() == "local" && spec.ranks() > limits.local_slots)
    invalid_argument("ranks ", spec.ranks(), ": more than this coordinator's --local-slots ", limits.local_slots,
                     "; use fewer ranks or launcher slurm");
  return output_dir;
}

std::vector<JobStep> plan_job(const JobRecord& job, const std::string& job_dir) {
  const v1::JobSpec& spec = job.job.spec();
  if (spec.kind() != "sft") {
    std::vector<std::string> args = kind_command(spec.kind());
    args.insert(args.end(), spec.args().begin(), spec.args().end());
    return {{spec.ranks(), args}};
  }
  const std::string out = job.job.output_dir();
  std::vector<std::string> train = {"train", "--config", job_dir + "/config.yaml", "--output", out};
  train.insert(train.end(), spec.args().begin(), spec.args().end());
  if (!latest_checkpoint(out + "/checkpoints").empty()) train.push_back("--resume");
  std::vector<std::string> export_model = {"export", "--checkpoint", out, "--output", out + "/model"};
  const std::string tokenizer = tokenizer_dir(parse_train_config(spec.config_yaml(), kConfigSource));
  if (!tokenizer.empty()) {
    export_model.push_back("--tokenizer");
    export_model.push_back(absolute_from(job.workdir, tokenizer));
  }
  return {{spec.ranks(), train}, {1, export_model}};
}

}  // namespace stepwise::serve

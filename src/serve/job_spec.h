// What a job runs: a submitted JobSpec checked (before anything is stored or started) and turned into the stepwise
// commands of the job. kind "sft": `stepwise train` on `ranks` processes from the spec's config, then `stepwise
// export` of its newest checkpoint to OUTPUT_DIR/model (a Hugging Face folder a worker serves as it is);
// "data_prepare", "convert", "eval", "distill": `stepwise data prepare|convert|eval|distill ARGS`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "serve/job_store.h"
#include "serve/job_supervisor.h"  // JobStep

namespace stepwise::serve {

// Parses a stepwise command line (without the program name) without running it: "" when it would run, else the
// error (the CLI layer's parser; the serve layer cannot see it).
using CommandCheck = std::function<std::string(const std::vector<std::string>& args)>;

struct JobLimits {
  int local_slots = 1;  // ranks a local job may have at most
  bool slurm = false;   // the slurm launcher is available
};

// Checks `spec` and fills its defaults (kind-specific ranks, launcher "local"); INVALID_ARGUMENT naming the field,
// the config key and its line. Relative paths are from `workdir`. Returns the job's output directory for kind
// sft (absolute; empty when the config gives none: the job's own folder is used).
std::string check_job_spec(v1::JobSpec& spec, const std::string& workdir, const JobLimits& limits,
                           const CommandCheck& check_command);

// The steps of a stored job, at launch: an sft job resumes (--resume) when its output directory already holds a
// complete checkpoint (a cancelled or failed run submitted again). `job_dir` holds config.yaml.
std::vector<JobStep> plan_job(const JobRecord& job, const std::string& job_dir);

// The stepwise command of a kind ("data_prepare" -> {"data", "prepare"}); empty for an unknown kind.
std::vector<std::string> kind_command(const std::string& kind);

}  // namespace stepwise::serve

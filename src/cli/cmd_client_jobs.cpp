// `stepwise client jobs submit|get|list|watch|cancel`: the Jobs service of a coordinator (proto/stepwise/v1/
// jobs.proto). Jobs print as one JSON object per line (the proto's field names); `watch` prints the job's output
// as it comes, with its progress and state changes on lines of their own, and exits 0 only when the job succeeded.
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/connection_flags.h"
#include "cli/flags.h"
#include "core/status.h"
#include "stepwise/v1/jobs.grpc.pb.h"

namespace stepwise::cli {

namespace {

std::string to_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;  // exit_code 0 and step 0 are news too
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

void print_job(v1::Job job, bool with_spec) {
  if (!with_spec) job.clear_spec();
  std::printf("%s\n", to_json(job).c_str());
  std::fflush(stdout);
}

std::unique_ptr<v1::Jobs::Stub> jobs_stub(const Connection& c) { return v1::Jobs::NewStub(channel(c)); }

struct SubmitFlags {
  Connection connection;
  v1::JobSpec spec;
  std::string kind = "sft", config, launcher = "local", name;
  int ranks = 0;
  std::vector<std::string> args, slurm_args;
  bool watch = false;
};

int watch(const Connection& c, const std::string& id, bool json);

int submit(const SubmitFlags& f) {
  v1::JobSpec spec;
  spec.set_name(f.name);
  spec.set_kind(f.kind);
  spec.set_ranks(f.ranks);
  spec.set_launcher(f.launcher);
  for (const std::string& a : f.args) spec.add_args(a);
  for (const std::string& a : f.slurm_args) spec.add_slurm_args(a);
  if (!f.config.empty()) {
    std::ifstream in(f.config);
    if (!in) invalid_argument("--config ", f.config, ": cannot read it");
    std::stringstream text;
    text << in.rdbuf();
    spec.set_config_yaml(text.str());
  }
  auto stub = jobs_stub(f.connection);
  grpc::ClientContext context;
  prepare(context, f.connection);
  v1::Job job;
  const grpc::Status s = stub->SubmitJob(&context, spec, &job);
  if (!s.ok()) fail_call(s, f.connection);
  print_job(job, false);
  return f.watch ? watch(f.connection, job.id(), false) : 0;
}

std::string progress_line(const v1::Job& job, const v1::JobProgress& p) {
  char line[256];
  std::snprintf(line, sizeof(line), "[job %s] step %lld/%lld, loss %.4f, %.0f tokens/s%s", job.id().c_str(),
                static_cast<long long>(p.step()), static_cast<long long>(p.total_steps()), p.loss(), p.tokens_per_s(),
                p.eval_loss() > 0 ? (", eval loss " + std::to_string(p.eval_loss())).c_str() : "");
  return line;
}

int watch(const Connection& c, const std::string& id, bool json) {
  auto stub = jobs_stub(c);
  grpc::ClientContext context;
  prepare(context, c);
  v1::WatchJobRequest request;
  request.set_id(id);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub->WatchJob(&context, request);
  v1::JobEvent event;
  v1::Job job;
  while (reader->Read(&event)) {
    if (event.has_job()) job = event.job();
    if (json) {
      if (event.has_job()) event.mutable_job()->clear_spec();
      std::printf("%s\n", to_json(event).c_str());
    } else if (event.event_case() == v1::JobEvent::kLogLine) {
      std::printf("%s\n", event.log_line().c_str());
    } else if (event.event_case() == v1::JobEvent::kProgress) {
      std::printf("%s\n", progress_line(job, event.progress()).c_str());
    } else if (event.event_case() == v1::JobEvent::kState) {
      std::printf("[job %s] %s%s%s\n", job.id().c_str(), v1::JobState_Name(event.state()).c_str(),
                  job.message().empty() ? "" : ": ", job.message().c_str());
    }
    std::fflush(stdout);
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) fail_call(s, c);
  return job.state() == v1::JOB_STATE_SUCCEEDED ? 0 : 1;
}

void add_submit(CommandLine& cli, CLI::App& jobs) {
  auto f = std::make_shared<SubmitFlags>();
  CLI::App& command = add_command(
      jobs, "submit", "submit a job (prints it as JSON; --watch follows it)",
      "stepwise client jobs submit --config configs/sft/tiny-gsm8k.yaml --ranks 2 --watch\n"
      "stepwise client jobs submit --kind data_prepare -- --tokenizer DIR --input a.jsonl --output runs/data/a\n"
      "stepwise client jobs submit --config run.yaml --launcher slurm --slurm-arg=--partition=cpu -- --set train.steps=100",
      "Arguments after -- are the job's args: for sft, --set SECTION.KEY=VALUE overrides of the config; for the\n"
      "other kinds, the flags of their command (stepwise data prepare, convert, eval, distill). Relative paths\n"
      "are the coordinator's (its working directory), not this client's.");
  add_connection_flags(command, f->connection);
  command.add_option("--kind", f->kind, "sft, data_prepare, convert, eval or distill")->capture_default_str();
  existing_file(command.add_option("--config", f->config, "sft: the run's YAML config (sent as text)")
                    ->type_name("FILE"));
  command.add_option("--name", f->name, "the job's name (default: its kind)")->type_name("NAME");
  at_least(command.add_option("--ranks", f->ranks, "processes (0: sft: the config's tp x dp; others: 1)")
               ->type_name("N"),
           0);
  command.add_option("--launcher", f->launcher, "local (mpirun on the coordinator's host) or slurm")
      ->capture_default_str();
  command.add_option("--slurm-arg", f->slurm_args, "an sbatch option for this job (repeatable)")
      ->type_name("OPTION")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  command.add_flag("--watch", f->watch, "follow the job until it ends (exit status 0 only if it succeeded)");
  command.add_option("args", f->args, "the job's args, after --")
      ->type_name("ARGS")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cli.on_run(command, [f] { return submit(*f); });
}

// get, cancel and watch take one job id.
void add_by_id(CommandLine& cli, CLI::App& jobs, const std::string& name, const std::string& summary,
               const std::function<int(const Connection&, const std::string&, bool)>& body) {
  auto c = std::make_shared<Connection>();
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App& command = add_command(jobs, name, summary, "stepwise client jobs " + name + " 7 --server 127.0.0.1:50051");
  add_connection_flags(command, *c);
  command.add_option("id", *id, "the job's id")->required()->type_name("ID");
  if (name == "watch") command.add_flag("--json", *json, "every event as a JSON object per line");
  cli.on_run(command, [c, id, json, body] { return body(*c, *id, *json); });
}

int get(const Connection& c, const std::string& id, bool) {
  grpc::ClientContext context;
  prepare(context, c);
  v1::GetJobRequest request;
  request.set_id(id);
  v1::Job job;
  const grpc::Status s = jobs_stub(c)->GetJob(&context, request, &job);
  if (!s.ok()) fail_call(s, c);
  print_job(job, true);
  return 0;
}

int cancel(const Connection& c, const std::string& id, bool) {
  grpc::ClientContext context;
  prepare(context, c);
  v1::CancelJobRequest request;
  request.set_id(id);
  v1::Job job;
  const grpc::Status s = jobs_stub(c)->CancelJob(&context, request, &job);
  if (!s.ok()) fail_call(s, c);
  print_job(job, false);
  return 0;
}

void add_list(CommandLine& cli, CLI::App& jobs) {
  auto c = std::make_shared<Connection>();
  auto states = std::make_shared<std::vector<std::string>>();
  auto limit = std::make_shared<int>(0);
  CLI::App& command = add_command(jobs, "list", "list jobs, newest first (one JSON object per line)",
                                  "stepwise client jobs list --state running --state queued");
  add_connection_flags(command, *c);
  command.add_option("--state", *states, "only jobs in this state (repeatable)")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "failed", "cancelled"}, CLI::ignore_case))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  at_least(command.add_option("--limit", *limit, "at most N jobs (0: all)")->type_name("N"), 0);
  cli.on_run(command, [c, states, limit] {
    v1::ListJobsRequest request;
    request.set_limit(*limit);
    for (std::string s : *states) {
      for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      v1::JobState state;
      if (v1::JobState_Parse("JOB_STATE_" + s, &state)) request.add_states(state);
    }
    grpc::ClientContext context;
    prepare(context, *c);
    v1::ListJobsResponse response;
    const grpc::Status s = jobs_stub(*c)->ListJobs(&context, request, &response);
    if (!s.ok()) fail_call(s, *c);
    for (const v1::Job& job : response.jobs()) print_job(job, false);
    return 0;
  });
}

}  // namespace

void add_client_jobs(CommandLine& cli, CLI::App& client) {
  CLI::App& jobs = add_command(client, "jobs", "submit, follow and cancel a coordinator's jobs (stepwise.v1.Jobs)",
                               "stepwise client jobs list --server 127.0.0.1:50051");
  add_submit(cli, jobs);
  add_by_id(cli, jobs, "get", "a job, with its spec (JSON)", get);
  add_list(cli, jobs);
  add_by_id(cli, jobs, "watch", "follow a job: its output, progress and state until it ends", watch);
  add_by_id(cli, jobs, "cancel", "cancel a job: every rank ends (local: SIGTERM then SIGKILL; Slurm: scancel)",
            cancel);
  set_subcommand_heading(jobs, "Calls");
}

}  // namespace stepwise::cli

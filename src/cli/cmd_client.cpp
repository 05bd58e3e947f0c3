// `stepwise client`: a gRPC client of a stepwise server (stepwise.v1): `generate` streams a generation to the
// terminal as `stepwise generate` prints it; `models`, `tokenize` and `metrics` print the server's answers.
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/connection_flags.h"
#include "cli/flags.h"
#include "cli/generation_printer.h"
#include "cli/serving_flags.h"
#include "core/status.h"
#include "serve/request_mapping.h"
#include "stepwise/v1/generation.grpc.pb.h"
#include "stepwise/v1/monitoring.grpc.pb.h"

namespace stepwise::cli {

namespace {

struct GenerateFlags {
  Connection connection;
  std::string model, prompt, prompt_ids, chat;
  bool no_thinking = false, json = false;
  int64_t thinking_budget = -1, max_tokens = 32, samples = 1;
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
};

int run_generate(const GenerateFlags& f) {
  v1::GenerateRequest r;
  r.set_model(f.model);
  if (!f.prompt.empty()) r.set_prompt(f.prompt);
  if (!f.chat.empty()) {
    v1::ChatMessage* m = r.add_messages();
    m->set_role("user");
    m->set_content(f.chat);
    r.set_enable_thinking(!f.no_thinking);
  }
  if (!f.prompt_ids.empty()) {
    std::stringstream in(f.prompt_ids);
    for (std::string item; std::getline(in, item, ',');) r.add_prompt_ids(std::stoi(item));
  }
  if (f.thinking_budget >= 0) r.set_thinking_budget(static_cast<int32_t>(f.thinking_budget));
  r.set_max_tokens(static_cast<int32_t>(f.max_tokens));
  r.set_temperature(f.sampling.temperature);
  r.set_top_k(static_cast<int32_t>(f.sampling.top_k));
  r.set_top_p(f.sampling.top_p);
  r.set_min_p(f.sampling.min_p);
  r.set_repetition_penalty(f.sampling.repetition_penalty);
  r.set_presence_penalty(f.sampling.presence_penalty);
  r.set_frequency_penalty(f.sampling.frequency_penalty);
  r.set_seed(f.sampling.seed);
  r.set_logprobs(static_cast<int32_t>(f.sampling.logprobs));
  r.set_n(static_cast<int32_t>(f.samples));
  for (const std::string& s : f.stop) r.add_stop(s);
  for (int32_t id : f.stop_token_ids) r.add_stop_token_ids(id);
  r.set_ignore_eos(f.ignore_eos);

  auto stub = v1::Generation::NewStub(channel(f.connection));
  grpc::ClientContext context;
  prepare(context, f.connection);
  GenerationPrinter printer(f.chat.empty() && f.prompt.empty(), f.json, f.samples);
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub->Generate(&context, r);
  v1::GenerateResponse response;
  while (reader->Read(&response)) printer(serve::to_generation_chunk(response));
  const grpc::Status status = reader->Finish();
  if (!status.ok()) fail_call(status, f.connection);
  return 0;
}

void add_client_generate(CommandLine& cli, CLI::App& client) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App& command = add_command(
      client, "generate", "stream a generation from a stepwise server",
      "stepwise client generate --server 127.0.0.1:50051 --chat 'What is 7*8?' --max-new-tokens 256\n"
      "stepwise client generate --server HOST:PORT --prompt-ids 1,2,3 --json",
      "Prints as `stepwise generate` does: ids as a JSON array, text as it streams, or --json objects.");
  add_connection_flags(command, f->connection);
  command.add_option("--model", f->model, "the served model's name (empty: the only one)")->type_name("NAME");
  command.add_option("--prompt", f->prompt, "the prompt as raw text")->type_name("TEXT");
  command.add_option("--prompt-ids", f->prompt_ids, "the prompt's token ids, comma-separated")->type_name("IDS");
  command.add_option("--chat", f->chat, "a user message, in the model's chat template")->type_name("TEXT");
  command.add_flag("--no-thinking", f->no_thinking, "--chat without the thinking part");
  at_least(command.add_option("--thinking-budget", f->thinking_budget, "at most N tokens of thinking; -1: unlimited")
               ->type_name("N"),
           -1);
  at_least(command.add_option("--max-new-tokens", f->max_tokens, "at most this many new tokens")->type_name("N"), 1);
  at_least(command.add_option("--samples", f->samples, "independent samples (the API's n)")->type_name("N"), 1);
  command.add_option("--stop", f->stop, "stop before this text (repeatable)")->type_name("TEXT");
  command.add_option("--stop-token-ids", f->stop_token_ids, "stop after one of these ids")->type_name("ID")->delimiter(',');
  command.add_flag("--ignore-eos", f->ignore_eos, "keep generating after the end-of-sequence token");
  command.add_flag("--json", f->json, "one JSON object per sample");
  add_sampling_flags(command, f->sampling);
  cli.on_run(command, [f] {
    if (!f->prompt_ids.empty() + !f->prompt.empty() + !f->chat.empty() != 1)
      invalid_argument("give the prompt once: --prompt-ids IDS, --prompt TEXT or --chat TEXT");
    return run_generate(*f);
  });
}

void add_client_models(CommandLine& cli, CLI::App& client) {
  auto c = std::make_shared<Connection>();
  CLI::App& command = add_command(client, "models", "list a server's models (one JSON object per line)",
                                  "stepwise client models --server 127.0.0.1:50051");
  add_connection_flags(command, *c);
  cli.on_run(command, [c] {
    auto stub = v1::Generation::NewStub(channel(*c));
    grpc::ClientContext context;
    prepare(context, *c);
    v1::ListModelsResponse response;
    const grpc::Status s = stub->ListModels(&context, v1::ListModelsRequest(), &response);
    if (!s.ok()) fail_call(s, *c);
    for (const v1::ModelInfo& m : response.models())
      std::printf("%s\n", nlohmann::ordered_json{{"name", m.name()}, {"tp_size", m.tp_size()},
                                                 {"context_length", m.context_length()},
                                                 {"replicas", m.replicas()}, {"state", m.state()}}
                              .dump()
                              .c_str());
    return 0;
  });
}

void add_client_metrics(CommandLine& cli, CLI::App& client) {
  auto c = std::make_shared<Connection>();
  CLI::App& command = add_command(client, "metrics", "print a server's metrics (Prometheus text)",
                                  "stepwise client metrics --server 127.0.0.1:50051");
  add_connection_flags(command, *c);
  cli.on_run(command, [c] {
    auto stub = v1::Monitoring::NewStub(channel(*c));
    grpc::ClientContext context;
    prepare(context, *c);
    v1::GetMetricsResponse response;
    const grpc::Status s = stub->GetMetrics(&context, v1::GetMetricsRequest(), &response);
    if (!s.ok()) fail_call(s, *c);
    std::fputs(response.text().c_str(), stdout);
    return 0;
  });
}

}  // namespace

void add_client_command(CommandLine& cli, CLI::App& parent) {
  CLI::App& client = add_command(parent, "client", "talk to a stepwise server over gRPC",
                                 "stepwise client generate --server 127.0.0.1:50051 --chat 'Hi'");
  for (auto add : {add_client_generate, add_client_models, add_client_metrics, add_client_jobs}) add(cli, client);
  set_subcommand_heading(client, "Calls");
}

}  // namespace stepwise::cli

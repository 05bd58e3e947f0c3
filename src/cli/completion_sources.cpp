// The two completion sources behind `eval run` and `distill`: the engine on a model folder, and gRPC calls to a
// server (one streaming Generate call per request, the batch's calls in flight at once).
#include "cli/completion_sources.h"

#include <filesystem>
#include <thread>

#include "cli/flags.h"
#include "cli/serving_flags.h"
#include "core/status.h"
#include "eval/engine_completion_source.h"
#include "model/hf_model.h"
#include "serve/request_mapping.h"
#include "stepwise/v1/generation.grpc.pb.h"

namespace stepwise::cli {

namespace {

// The model, its tokenizer and an engine over them, owned together.
class ModelCompletionSource : public CompletionSource {
 public:
  explicit ModelCompletionSource(const CompletionSourceFlags& f) {
    const std::string tokenizer_dir = f.tokenizer_dir.empty() ? f.model_dir : f.tokenizer_dir;
    if (!std::filesystem::exists(tokenizer_dir + "/tokenizer.json"))
      invalid_argument("--model ", f.model_dir, ": ", tokenizer_dir,
                       " has no tokenizer.json; pass --tokenizer DIR (questions are asked in the chat template)");
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(tokenizer_dir));
    ModelOptions options;
    options.cpu_accumulation = f.accumulation;
    model_ = load_hf_model(f.model_dir, options);
    engine_ = std::make_unique<ServingEngine>(*model_, tokenizer_.get(), f.engine);
    source_ = std::make_unique<EngineCompletionSource>(*engine_, *tokenizer_, "model " + f.model_dir);
  }
  std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) override {
    return source_->complete(requests);
  }
  std::string describe() const override { return source_->describe(); }

 private:
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Qwen3Model> model_;
  std::unique_ptr<ServingEngine> engine_;
  std::unique_ptr<EngineCompletionSource> source_;
};

class GrpcCompletionSource : public CompletionSource {
 public:
  explicit GrpcCompletionSource(const CompletionSourceFlags& f)
      : connection_(f.connection), model_(f.served_model), stub_(v1::Generation::NewStub(channel(f.connection))) {}

  std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) override {
    std::vector<std::vector<Completion>> out(requests.size());
    std::vector<grpc::Status> status(requests.size());
    std::vector<std::thread> calls;
    for (size_t i = 0; i < requests.size(); ++i) calls.emplace_back([&, i] { status[i] = call(requests[i], &out[i]); });
    for (std::thread& t : calls) t.join();
    for (size_t i = 0; i < requests.size(); ++i)
      if (!status[i].ok()) fail_call(status[i], connection_);
    return out;
  }
  std::string describe() const override {
    return "server " + connection_.server + (model_.empty() ? "" : " model " + model_);
  }

 private:
  grpc::Status call(const CompletionRequest& q, std::vector<Completion>* out) const {
    v1::GenerateRequest r;
    r.set_model(model_);
    v1::ChatMessage* m = r.add_messages();
    m->set_role("user");
    m->set_content(q.user_message);
    r.set_enable_thinking(q.enable_thinking);
    if (q.thinking_budget >= 0) r.set_thinking_budget(static_cast<int32_t>(q.thinking_budget));
    r.set_max_tokens(static_cast<int32_t>(q.max_tokens));
    r.set_temperature(static_cast<float>(q.temperature));
    r.set_top_p(static_cast<float>(q.top_p));
    r.set_seed(q.seed);
    r.set_n(static_cast<int32_t>(q.n));
    r.set_logprobs(q.logprobs ? 1 : 0);
    CompletionCollector collector(q.n);
    grpc::ClientContext context;
    prepare(context, connection_);
    auto reader = stub_->Generate(&context, r);
    v1::GenerateResponse chunk;
    while (reader->Read(&chunk)) collector.add(serve::to_generation_chunk(chunk));
    const grpc::Status status = reader->Finish();
    if (status.ok() && !collector.error().empty()) return grpc::Status(grpc::StatusCode::INTERNAL, collector.error());
    *out = collector.take();
    return status;
  }

  Connection connection_;
  std::string model_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

}  // namespace

void add_problem_flags(CLI::App& command, ProblemFlags& f) {
  f.data_dir = std::string(STEPWISE_SOURCE_DIR) + "/data/reasoning";
  command.add_option("--dataset", f.dataset, "math500, gsm8k, or a JSONL / JSON file of {problem, answer}")
      ->required()
      ->type_name("NAME|FILE");
  command.add_option("--data-dir", f.data_dir, "where math500_test.json and gsm8k_test.jsonl are")
      ->type_name("DIR")
      ->capture_default_str();
  at_least(command.add_option("--limit", f.limit, "the first N problems only; 0: all")->type_name("N"), 0);
}

void add_completion_source_flags(CLI::App& command, CompletionSourceFlags& f) {
  command.add_option("--model", f.model_dir, "a Hugging Face model folder, run here by the serving engine (CPU)")
      ->type_name("DIR");
  add_tokenizer_flag(command, f.tokenizer_dir, "the tokenizer folder for --model (default: --model's)");
  add_engine_flags(command, f.engine);
  add_accumulation_flag(command, f.accumulation);
  add_connection_flags(command, f.connection);
  f.server = command.get_option("--server");
  command.get_option("--server")->description("or a stepwise server (stepwise serve) to ask over gRPC");
  command.add_option("--served-model", f.served_model, "with --server: the model's name (empty: the only one)")
      ->type_name("NAME");
}

std::unique_ptr<CompletionSource> open_completion_source(const CompletionSourceFlags& f) {
  const bool server_given = f.use_server || (f.server && f.server->count() > 0);
  if (f.model_dir.empty() == !server_given)
    invalid_argument("give one of --model DIR (a model run here) and --server ADDR (a stepwise server)");
  if (server_given) return std::make_unique<GrpcCompletionSource>(f);
  return std::make_unique<ModelCompletionSource>(f);
}

}  // namespace stepwise::cli

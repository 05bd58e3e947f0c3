// `stepwise serve` as clients meet it, over loopback: concurrent greedy streams equal to the single-sequence path,
// tokens streamed before the end, the `stepwise client` command, bearer-token auth (health stays open), TLS,
// invalid requests answered INVALID_ARGUMENT / NOT_FOUND naming the field or model, a full queue refused at once,
// deadlines and cancellations freeing their KV blocks, 2,000 random or malformed requests (random field values,
// huge and invalid UTF-8 strings, random bytes on the wire) each answered with a status, and SIGTERM draining.
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/process.h"
#include "common/random_model.h"
#include "infer/generate.h"
#include "model/hf_model.h"
#include "grpc_calls.h"
#include "server_process.h"
#include "stepwise/v1/generation.grpc.pb.h"
#include "stepwise/v1/monitoring.grpc.pb.h"

namespace stepwise::test {
namespace {

const std::string kFixture = std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/qwen3-tiny-a";  // vocab 1000, 256

TEST(Serve, ConcurrentGreedyStreamsEqualTheSingleSequencePath) {
  std::mt19937 gen(5);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int> lengths;
  auto model = load_hf_model(kFixture, {});
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 16; ++i) {
    prompts.push_back(random_ids(gen, 1 + static_cast<int>(gen() % 50), 1000));
    lengths.push_back(1 + static_cast<int>(gen() % 60));
    GenerateRequest g;
    g.prompt = prompts.back();
    g.max_new_tokens = lengths.back();
    expected.push_back(stepwise::generate(*model, g));
  }
  ServerProcess server("--model " + kFixture);
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  std::vector<std::future<Streamed>> calls;
  for (int i = 0; i < 16; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] { return generate(*stub, ids_request(prompts[i], lengths[i])); }));
  for (int i = 0; i < 16; ++i) {
    const Streamed s = calls[i].get();
    ASSERT_TRUE(s.status.ok()) << s.status.error_message();
    EXPECT_EQ(s.tokens, expected[i]) << "request " << i;
    ASSERT_FALSE(s.responses.empty());
    EXPECT_EQ(s.responses.back().finish_reason(), "length");
    EXPECT_EQ(s.responses.back().usage().completion_tokens(), lengths[i]);
    EXPECT_EQ(s.responses.back().usage().prompt_tokens(), static_cast<int>(prompts[i].size()));
  }
  EXPECT_TRUE(all_blocks_free(server, "qwen3-tiny-a"));
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
}

TEST(Serve, TokensArriveWhileTheRequestIsStillRunning) {
  ServerProcess server("--model " + kFixture);
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
  ASSERT_TRUE(call->started);
  EXPECT_EQ(call->first.token_ids_size(), 1);
  EXPECT_TRUE(call->first.finish_reason().empty());
  // The server counts the call in flight while the client already holds a token.
  EXPECT_EQ(metric(metrics(server), "stepwise_requests_in_flight"), 1);
  EXPECT_TRUE(call->finish().ok());
  EXPECT_EQ(call->responses, 250);
}

TEST(Serve, ClientCommandPrintsWhatGeneratePrints) {
  const std::string dir = random_qwen3_vocab_model_dir();
  ServerProcess server("--model " + dir + " --name tiny");
  ASSERT_NE(server.port(), 0);
  for (const std::string args : {"--prompt 'Once upon a time' --max-new-tokens 16 --ignore-eos",
                                 "--chat 'What is 2+2?' --no-thinking --max-new-tokens 12 --ignore-eos --json",
                                 "--prompt 'Hello' --temperature 1 --seed 3 --samples 2 --max-new-tokens 8 --json"}) {
    const ProcessResult local = run_process(stepwise_binary() + " generate --model " + dir + " " + args);
    const ProcessResult remote = run_process(stepwise_binary() + " client generate --server " + server.address() +
                                             " " + args);
    ASSERT_EQ(local.exit_code, 0) << local.describe();
    ASSERT_EQ(remote.exit_code, 0) << remote.describe();
    EXPECT_EQ(remote.out, local.out) << args;
  }
  const ProcessResult models = run_process(stepwise_binary() + " client models --server " + server.address());
  EXPECT_NE(models.out.find("\"name\":\"tiny\""), std::string::npos) << models.describe();
}

TEST(Serve, BearerTokenIsRequiredButHealthStaysOpen) {
  const std::string token_file = ::testing::TempDir() + "/token.txt";
  std::ofstream(token_file) << "s3cret-token\n";
  ServerProcess server("--model " + kFixture + " --auth-token-file " + token_file);
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  EXPECT_EQ(generate(*stub, ids_request({1, 2}, 3)).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(generate(*stub, ids_request({1, 2}, 3), "wrong").status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(generate(*stub, ids_request({1, 2}, 3), "s3cret-token-and-more").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const Streamed ok = generate(*stub, ids_request({1, 2}, 3), "s3cret-token");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 3u);
  const auto [status, bytes] = health_check(server);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << "SERVING";
}

TEST(Serve, InvalidRequestsNameTheFieldAndUnknownModelsAreNotFound) {
  ServerProcess server("--model " + kFixture);
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  struct Case {
    std::function<void(v1::GenerateRequest&)> change;
    grpc::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_prompt_ids(); }, grpc::StatusCode::INVALID_ARGUMENT, "no input"},
      {[](auto& r) { r.set_prompt("x"); }, grpc::StatusCode::INVALID_ARGUMENT, "several inputs"},
      {[](auto& r) { r.add_prompt_ids(1000); }, grpc::StatusCode::INVALID_ARGUMENT, "prompt_ids[2]"},
      {[](auto& r) { r.add_prompt_ids(-5); }, grpc::StatusCode::INVALID_ARGUMENT, "prompt_ids[2]"},
      {[](auto& r) { r.set_temperature(NAN); }, grpc::StatusCode::INVALID_ARGUMENT, "temperature"},
      {[](auto& r) { r.set_temperature(-1); }, grpc::StatusCode::INVALID_ARGUMENT, "temperature"},
      {[](auto& r) { r.set_top_p(0); }, grpc::StatusCode::INVALID_ARGUMENT, "top_p"},
      {[](auto& r) { r.set_min_p(INFINITY); }, grpc::StatusCode::INVALID_ARGUMENT, "min_p"},
      {[](auto& r) { r.set_max_tokens(255); }, grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"},
      {[](auto& r) { r.set_n(-1); }, grpc::StatusCode::INVALID_ARGUMENT, "n:"},
      {[](auto& r) { r.set_logprobs(21); }, grpc::StatusCode::INVALID_ARGUMENT, "logprobs"},
      {[](auto& r) { r.set_thinking_budget(-2); }, grpc::StatusCode::INVALID_ARGUMENT, "thinking_budget"},
      {[](auto& r) { r.add_stop(""); }, grpc::StatusCode::INVALID_ARGUMENT, "stop"},
      {[](auto& r) { r.set_model("nope"); }, grpc::StatusCode::NOT_FOUND, "'nope'"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    v1::GenerateRequest r = ids_request({1, 2}, 4);
    cases[i].change(r);
    const Streamed s = generate(*stub, r);
    EXPECT_EQ(s.status.error_code(), cases[i].code) << "case " << i << ": " << s.status.error_message();
    EXPECT_NE(s.status.error_message().find(cases[i].field), std::string::npos)
        << "case " << i << ": " << s.status.error_message();
  }
}

TEST(Serve, AFullQueueIsRefusedAtOnce) {
  ServerProcess server("--model " + kFixture + " --max-queued 1");
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
  ASSERT_TRUE(call->started);  // in flight
  const auto t0 = std::chrono::steady_clock::now();
  const Streamed refused = generate(*stub, ids_request({4}, 2));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status.error_message();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  call->context.TryCancel();
  call->finish();
}

TEST(Serve, DeadlinesAndCancellationsFreeTheirBlocks) {
  // One token per step: 128 samples (the API's most) of 250 tokens are 32,000 steps, about 9 s on the 2-core
  // development machine (64 samples: 4.5 s). A 3 s deadline passes mid-stream on a machine up to 3x faster, and
  // leaves the first token 3 s to come while other tests load the machine (1.5 s was once not enough under -j2).
  ServerProcess server("--model " + kFixture + " --max-tokens-per-step 1");
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  {
    v1::GenerateRequest r = ids_request({1, 2, 3}, 250);
    r.set_n(128);
    const auto call = OpenStream::open(*stub, r, 3);
    ASSERT_TRUE(call->started) << "the first token comes before the deadline";
    const grpc::Status late = call->finish();
    EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << late.error_message();
  }
  {
    const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
    ASSERT_TRUE(call->started);
    call->context.TryCancel();
    EXPECT_EQ(call->finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(all_blocks_free(server, "qwen3-tiny-a"));
  const std::string m = metrics(server);
  EXPECT_EQ(metric(m, "stepwise_requests_total{code=\"DEADLINE_EXCEEDED\"}"), 1) << m;
  EXPECT_EQ(metric(m, "stepwise_requests_total{code=\"CANCELLED\"}"), 1) << m;
}

TEST(Serve, RandomAndMalformedRequestsAllGetAStatus) {
  // Invalid UTF-8 in string fields is sent on purpose: protobuf's warning about each is noise here.
  google::protobuf::SetLogHandler(nullptr);
  ServerProcess server("--model " + kFixture);
  ASSERT_NE(server.port(), 0);
  auto channel = connect(server);
  auto stub = v1::Generation::NewStub(channel);
  std::atomic<int> answered{0}, ok{0};
  auto worker = [&](unsigned seed) {
    std::mt19937 gen(seed);
    auto coin = [&](int n) { return gen() % static_cast<unsigned>(n) == 0; };
    auto any_float = [&] {
      const float specials[] = {NAN, INFINITY, -INFINITY, -1.0f, 0.0f, 1e30f, -0.0f};
      return coin(3) ? specials[gen() % 7] : static_cast<float>(gen() % 2000) / 1000.0f;
    };
    auto any_string = [&] {
      std::string s(coin(20) ? 200000 + gen() % 100000 : gen() % 20, 'a');
      for (char& c : s) c = static_cast<char>(coin(4) ? gen() % 256 : 'a' + gen() % 26);  // invalid UTF-8 too
      return s;
    };
    for (int i = 0; i < 125; ++i) {
      grpc::Status status;
      if (coin(5)) {  // random bytes on the wire
        status = raw_call(channel, "/stepwise.v1.Generation/Generate", any_string()).first;
      } else {
        // A valid request, then (half of the time) a few corruptions of random fields.
        v1::GenerateRequest r;
        for (int k = 1 + static_cast<int>(gen() % 30); k > 0; --k) r.add_prompt_ids(static_cast<int32_t>(gen() % 1000));
        r.set_max_tokens(static_cast<int32_t>(1 + gen() % 10));
        r.set_temperature(coin(2) ? 0.0f : 0.8f);
        r.set_seed(gen());
        r.set_n(static_cast<int32_t>(gen() % 3));
        r.set_ignore_eos(coin(2));
        for (int k = coin(2) ? 0 : 1 + static_cast<int>(gen() % 3); k > 0; --k) {
          switch (gen() % 16) {
            case 0: r.set_prompt(any_string()); break;
            case 1: r.add_prompt_ids(static_cast<int32_t>(gen())); break;
            case 2: {
              v1::ChatMessage* m = r.add_messages();
              m->set_role(coin(2) ? "user" : any_string());
              m->set_content(any_string());
              break;
            }
            case 3: r.set_model(any_string()); break;
            case 4: r.set_max_tokens(static_cast<int32_t>(gen())); break;
            case 5: r.set_temperature(any_float()); break;
            case 6: r.set_top_p(any_float()); break;
            case 7: r.set_top_k(static_cast<int32_t>(gen())); break;
            case 8: r.set_min_p(any_float()); break;
            case 9: r.set_repetition_penalty(any_float()); break;
            case 10: r.set_presence_penalty(any_float()); break;
            case 11: r.set_frequency_penalty(any_float()); break;
            case 12: r.set_n(static_cast<int32_t>(gen() % 300)); break;
            case 13: r.set_logprobs(static_cast<int32_t>(gen() % 30)); break;
            case 14: r.add_stop(any_string()); break;
            default: r.set_thinking_budget(static_cast<int32_t>(gen() % 20) - 2); break;
          }
        }
        const Streamed s = generate(*stub, r, "", 20);
        status = s.status;
      }
      ++answered;
      ok += status.ok();
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
      EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 16; ++t) threads.emplace_back(worker, 1000 + t);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(answered, 2000);
  EXPECT_GT(ok, 400) << "about half of the requests are valid";
  std::printf("2000 random requests: %d OK, the rest refused with a status\n", ok.load());
  EXPECT_EQ(health_check(server).second, std::string("\x08\x01", 2)) << "still serving";
  EXPECT_TRUE(all_blocks_free(server, "qwen3-tiny-a"));
  EXPECT_EQ(server.terminate(), 0) << server.stderr_text();
}

TEST(Serve, SigtermFinishesCallsInFlightAndExitsZero) {
  ServerProcess server("--model " + kFixture + " --drain-seconds 30");
  ASSERT_NE(server.port(), 0);
  auto stub = v1::Generation::NewStub(connect(server));
  const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
  ASSERT_TRUE(call->started);
  std::future<int> exit_code = std::async(std::launch::async, [&] { return server.terminate(); });
  EXPECT_TRUE(call->finish().ok());
  EXPECT_EQ(call->responses, 250) << "the call in flight completes";
  EXPECT_EQ(exit_code.get(), 0);
}

}  // namespace
}  // namespace stepwise::test

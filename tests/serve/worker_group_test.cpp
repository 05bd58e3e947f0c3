// Worker groups behind a model-less coordinator, as a cluster runs them: `stepwise serve` alone, `stepwise worker`
// processes (a TP=2 group under mpirun, TP=1 replicas) registering with it over loopback. Checked: the same greedy
// tokens as the single-sequence path; 64 concurrent streams over two replicas with no token lost or duplicated and
// both replicas used; a replica killed mid-stream ends its streams UNAVAILABLE within seconds while the other keeps
// serving; a group that stops heartbeating (SIGSTOP) is dropped and registers again when it resumes, as it does with
// a coordinator restarted on the same address; a group reaches a coordinator over TLS with a client certificate and
// a bearer token; SIGTERM drains a group; registrations the coordinator must refuse end the worker with the reason.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <future>
#include <random>
#include <regex>
#include <thread>

#include "common/process.h"
#include "grpc_calls.h"
#include "infer/generate.h"
#include "model/hf_model.h"
#include "server_process.h"

namespace stepwise::test {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kFixture = std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/qwen3-tiny-a";  // vocab 1000, 256
const std::string kOtherShape = std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/qwen3-tiny-b";  // vocab 517

// `stepwise worker` for the coordinator, on `ranks` ranks under mpirun when above 1.
std::string worker_command(const ServerProcess& coordinator, const std::string& args, int ranks = 1) {
  const std::string launcher =
      ranks > 1 ? std::string(STEPWISE_MPIRUN) + " -np " + std::to_string(ranks) + " -x OMP_NUM_THREADS=1 " : "";
  return launcher + stepwise_binary() + " worker --coordinator " + coordinator.address() + " --tp " +
         std::to_string(ranks) + " " + args;
}

std::vector<v1::ModelInfo> list_models(const ServerProcess& s, const std::string& token = "") {
  auto stub = v1::Generation::NewStub(connect(s));
  grpc::ClientContext context;
  set_deadline(context, 10);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::ListModelsResponse response;
  const grpc::Status status = stub->ListModels(&context, {}, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.models().begin(), response.models().end()};
}

// Waits (at most `timeout_s`) until `name` has `replicas` replicas and is ready (replicas 0: is not listed).
bool wait_for_model(const ServerProcess& s, const std::string& name, int replicas, double timeout_s = 60,
                    const std::string& token = "") {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    int listed = 0;
    bool ready = false;
    for (const v1::ModelInfo& m : list_models(s, token))
      if (m.name() == name) {
        listed = m.replicas();
        ready = m.state() == "ready";
      }
    if (listed == replicas && (replicas == 0 || ready)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The single-sequence path's greedy tokens for random prompts (1-40 tokens) and lengths (1-40).
struct Workload {
  std::vector<std::vector<int32_t>> prompts, expected;
  std::vector<int> lengths;
};
Workload random_workload(int count, unsigned seed) {
  std::mt19937 gen(seed);
  auto model = load_hf_model(kFixture, {});
  Workload w;
  for (int i = 0; i < count; ++i) {
    w.prompts.push_back(random_ids(gen, 1 + static_cast<int>(gen() % 40), 1000));
    w.lengths.push_back(1 + static_cast<int>(gen() % 40));
    GenerateRequest g;
    g.prompt = w.prompts.back();
    g.max_new_tokens = w.lengths.back();
    w.expected.push_back(stepwise::generate(*model, g));
  }
  return w;
}

// Every stream complete: OK, exactly the expected tokens (none lost, none duplicated), the usage agreeing.
void run_and_check(const ServerProcess& s, const Workload& w, const std::string& model) {
  auto stub = v1::Generation::NewStub(connect(s));
  std::vector<std::future<Streamed>> calls;
  for (size_t i = 0; i < w.prompts.size(); ++i)
    calls.push_back(std::async(std::launch::async, [&, i] {
      v1::GenerateRequest r = ids_request(w.prompts[i], w.lengths[i]);
      r.set_model(model);
      return generate(*stub, r, "", 120);
    }));
  for (size_t i = 0; i < calls.size(); ++i) {
    const Streamed s = calls[i].get();
    ASSERT_TRUE(s.status.ok()) << "request " << i << ": " << s.status.error_message();
    EXPECT_EQ(s.tokens, w.expected[i]) << "request " << i;
    ASSERT_FALSE(s.responses.empty());
    EXPECT_EQ(s.responses.back().finish_reason(), "length") << "request " << i;
    EXPECT_EQ(s.responses.back().usage().completion_tokens(), w.lengths[i]) << "request " << i;
  }
}

TEST(WorkerGroups, Tp2GroupBehindAModelLessCoordinatorGivesTheSameTokens) {
  const Workload w = random_workload(16, 7);
  ServerProcess coordinator("--worker-timeout 2", 60, ":0");  // every interface, as the design brief starts it
  ASSERT_NE(coordinator.port(), 0);
  EXPECT_EQ(health_check(coordinator).second, std::string("\x08\x02", 2)) << "NOT_SERVING without a model";
  EXPECT_TRUE(list_models(coordinator).empty());
  auto stub = v1::Generation::NewStub(connect(coordinator));
  const Streamed early = generate(*stub, ids_request({1, 2}, 2));
  EXPECT_EQ(early.status.error_code(), grpc::StatusCode::UNAVAILABLE) << early.status.error_message();
  EXPECT_NE(early.status.error_message().find("stepwise worker"), std::string::npos) << early.status.error_message();

  BackgroundProcess group(worker_command(coordinator, "--model " + kFixture + " --name tiny", 2));
  ASSERT_TRUE(wait_for_model(coordinator, "tiny", 1)) << group.stderr_text();
  const std::vector<v1::ModelInfo> models = list_models(coordinator);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].tp_size(), 2);
  EXPECT_EQ(models[0].context_length(), 256);
  EXPECT_EQ(health_check(coordinator).second, std::string("\x08\x01", 2));
  run_and_check(coordinator, w, "tiny");
  run_and_check(coordinator, w, "");  // the only model
  EXPECT_TRUE(all_blocks_free(coordinator, "tiny"));
  EXPECT_EQ(coordinator.terminate(), 0) << coordinator.stderr_text();
}

// The sum of the lines of one metric family per worker ("name{...worker=\"id\"} value"), by worker id.
std::map<std::string, double> per_worker(const std::string& text, const std::string& name) {
  std::map<std::string, double> out;
  const std::regex line(name + R"re(\{model="[^"]*",worker="(\d+)"\} (\S+))re");
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
    out[(*it)[1]] = std::stod((*it)[2]);
  return out;
}

TEST(WorkerGroups, SixtyFourStreamsOverTwoReplicasThenOneKilledMidStream) {
  const Workload w = random_workload(64, 11);
  ServerProcess coordinator("--worker-timeout 2");
  ASSERT_NE(coordinator.port(), 0);
  BackgroundProcess a(worker_command(coordinator, "--model " + kFixture));
  BackgroundProcess b(worker_command(coordinator, "--model " + kFixture));
  ASSERT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 2)) << a.stderr_text() << b.stderr_text();
  run_and_check(coordinator, w, "");
  const std::map<std::string, double> routed = per_worker(metrics(coordinator), "stepwise_worker_calls_total");
  ASSERT_EQ(routed.size(), 2u);
  for (const auto& [worker, calls] : routed) EXPECT_GE(calls, 16) << "worker " << worker << ": least loaded first";

  // 16 long streams, half on each replica; once each has its first chunk, replica a is killed.
  auto stub = v1::Generation::NewStub(connect(coordinator));
  std::vector<std::unique_ptr<OpenStream>> streams;
  for (int i = 0; i < 16; ++i) {
    streams.push_back(OpenStream::open(*stub, ids_request({static_cast<int32_t>(i + 1), 5, 6}, 250), 120));
    ASSERT_TRUE(streams.back()->started) << "stream " << i;
  }
  a.signal_group(SIGKILL);
  const Clock::time_point killed = Clock::now();
  std::vector<std::future<std::pair<grpc::Status, Clock::time_point>>> ends;
  for (auto& stream : streams)
    ends.push_back(std::async(std::launch::async, [&stream] {
      const grpc::Status status = stream->finish();
      return std::make_pair(status, Clock::now());
    }));
  int unavailable = 0, complete = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    const auto [status, end] = ends[i].get();
    if (status.ok()) {
      EXPECT_EQ(streams[i]->tokens, 250);
      ++complete;
      continue;
    }
    ++unavailable;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_NE(status.error_message().find("lost its connection"), std::string::npos) << status.error_message();
    EXPECT_LT(std::chrono::duration<double>(end - killed).count(), 5.0) << "a stream of the killed replica hung";
  }
  EXPECT_GE(unavailable, 1);
  EXPECT_GE(complete, 1);
  EXPECT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 1, 5));
  // The other replica goes on serving.
  Workload more = w;
  more.prompts.resize(8);
  more.lengths.resize(8);
  more.expected.resize(8);
  run_and_check(coordinator, more, "qwen3-tiny-a");
  EXPECT_TRUE(all_blocks_free(coordinator, "qwen3-tiny-a"));
  EXPECT_EQ(coordinator.terminate(), 0) << coordinator.stderr_text();
  EXPECT_EQ(b.terminate(), 0) << b.stderr_text();  // with its coordinator gone it still stops cleanly
}

TEST(WorkerGroups, ASilentGroupIsDroppedAndRegistersAgainWhenItResumes) {
  ServerProcess coordinator("--worker-timeout 1");
  ASSERT_NE(coordinator.port(), 0);
  BackgroundProcess worker(worker_command(coordinator, "--model " + kFixture));
  ASSERT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 1)) << worker.stderr_text();
  auto stub = v1::Generation::NewStub(connect(coordinator));
  const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
  ASSERT_TRUE(call->started);
  worker.signal_group(SIGSTOP);
  const Clock::time_point stopped = Clock::now();
  const grpc::Status status = call->finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("no heartbeat"), std::string::npos) << status.error_message();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stopped).count(), 4.0);  // 1 s timeout, 50 ms checks
  EXPECT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 0, 1));
  worker.signal_group(SIGCONT);
  ASSERT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 1, 30)) << worker.stderr_text();
  const Streamed s = generate(*stub, ids_request({1, 2, 3}, 5));
  EXPECT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.tokens.size(), 5u);
  EXPECT_EQ(coordinator.terminate(), 0) << coordinator.stderr_text();
}

TEST(WorkerGroups, AGroupRegistersAgainWithARestartedCoordinator) {
  auto first = std::make_unique<ServerProcess>("");
  ASSERT_NE(first->port(), 0);
  const std::string address = first->address();
  BackgroundProcess worker(worker_command(*first, "--model " + kFixture));
  ASSERT_TRUE(wait_for_model(*first, "qwen3-tiny-a", 1)) << worker.stderr_text();
  first->signal_group(SIGKILL);
  first.reset();
  ServerProcess second("", 60, address);  // the same port: the worker knows no other
  ASSERT_NE(second.port(), 0) << "port " << address << " not free again";
  ASSERT_TRUE(wait_for_model(second, "qwen3-tiny-a", 1, 30)) << worker.stderr_text();
  auto stub = v1::Generation::NewStub(connect(second));
  const Streamed s = generate(*stub, ids_request({4, 5, 6}, 7));
  EXPECT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.tokens.size(), 7u);
  EXPECT_EQ(worker.terminate(), 0) << worker.stderr_text();
}

TEST(WorkerGroups, SigtermDrainsAGroup) {
  ServerProcess coordinator("");
  ASSERT_NE(coordinator.port(), 0);
  BackgroundProcess worker(worker_command(coordinator, "--model " + kFixture + " --accumulation float32"));
  ASSERT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 1)) << worker.stderr_text();
  auto stub = v1::Generation::NewStub(connect(coordinator));
  const auto call = OpenStream::open(*stub, ids_request({1, 2, 3}, 250));
  ASSERT_TRUE(call->started);
  EXPECT_EQ(kill(worker.pid(), SIGTERM), 0);
  const grpc::Status status = call->finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(call->tokens, 250);
  EXPECT_EQ(worker.wait(30), 0) << worker.stderr_text();
  EXPECT_TRUE(wait_for_model(coordinator, "qwen3-tiny-a", 0, 5));
}

TEST(WorkerGroups, AGroupReachesItsCoordinatorOverTlsWithAClientCertificateAndToken) {
  if (run_process("command -v openssl").exit_code != 0) GTEST_SKIP() << "needs the openssl command";
  // One self-signed certificate serves as the coordinator's, as the CA the worker trusts, and as the worker's
  // client certificate that the coordinator requires.
  const std::string dir = ::testing::TempDir() + "/worker-tls-" + std::to_string(::getpid());
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem", token = dir + "/token.txt";
  ASSERT_EQ(run_process("mkdir -p " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                        "-nodes -keyout " + key + " -out " + cert + " -days 2 -subj /CN=localhost "
                        "-addext subjectAltName=IP:127.0.0.1,DNS:localhost").exit_code, 0);
  std::ofstream(token) << "tls-token\n";
  ServerProcess coordinator("--tls-cert " + cert + " --tls-key " + key + " --tls-client-ca " + cert +
                            " --auth-token-file " + token);
  ASSERT_NE(coordinator.port(), 0);
  const std::string secure = " --tls-ca " + cert + " --tls-cert " + cert + " --tls-key " + key +
                             " --auth-token-file " + token;
  BackgroundProcess worker(worker_command(coordinator, "--model " + kFixture + secure));
  const std::string client = stepwise_binary() + " client ";
  const std::string server = " --server " + coordinator.address() + secure;
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    ready = run_process(client + "models" + server).out.find("\"state\":\"ready\"") != std::string::npos;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << worker.stderr_text();
  const ProcessResult remote = run_process(client + "generate --prompt-ids 1,2,3 --max-new-tokens 6" + server);
  const ProcessResult local =
      run_process(stepwise_binary() + " generate --prompt-ids 1,2,3 --max-new-tokens 6 --model " + kFixture);
  ASSERT_EQ(remote.exit_code, 0) << remote.describe();
  EXPECT_EQ(remote.out, local.out);
  EXPECT_NE(run_process(client + "models --server " + coordinator.address() + " --tls-ca " + cert).exit_code, 0)
      << "without the client certificate and token the coordinator refuses";
  EXPECT_EQ(worker.terminate(), 0) << worker.stderr_text();
}

TEST(WorkerGroups, RefusedRegistrationsEndTheWorkerSayingWhy) {
  const std::string token = ::testing::TempDir() + "/worker-token.txt";
  {
    std::ofstream(token) << "s3cret\n";
  }
  ServerProcess coordinator("--auth-token-file " + token);
  ASSERT_NE(coordinator.port(), 0);
  BackgroundProcess tokenless(worker_command(coordinator, "--model " + kFixture));
  EXPECT_NE(tokenless.wait(60), 0);
  EXPECT_NE(tokenless.stderr_text().find("refused"), std::string::npos) << tokenless.stderr_text();

  BackgroundProcess first(worker_command(coordinator, "--model " + kFixture + " --name tiny --auth-token-file " + token));
  ASSERT_TRUE(wait_for_model(coordinator, "tiny", 1, 60, "s3cret")) << first.stderr_text();
  BackgroundProcess other_shape(
      worker_command(coordinator, "--model " + kOtherShape + " --name tiny --auth-token-file " + token));
  EXPECT_NE(other_shape.wait(60), 0);
  EXPECT_NE(other_shape.stderr_text().find("already served"), std::string::npos) << other_shape.stderr_text();
  EXPECT_TRUE(wait_for_model(coordinator, "tiny", 1, 1, "s3cret"));
}

}  // namespace
}  // namespace stepwise::test

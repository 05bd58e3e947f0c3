// Test calls over the C++ stubs.
#include "grpc_calls.h"

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "stepwise/v1/monitoring.grpc.pb.h"

namespace stepwise::test {

std::shared_ptr<grpc::Channel> connect(const ServerProcess& s) {
  return grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials());
}

void set_deadline(grpc::ClientContext& c, double seconds) {
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1e3)));
}


Streamed generate(v1::Generation::Stub& stub, const v1::GenerateRequest& r, const std::string& token,
                  double deadline_s) {
  grpc::ClientContext context;
  set_deadline(context, deadline_s);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  Streamed s;
  auto reader = stub.Generate(&context, r);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    s.tokens.insert(s.tokens.end(), response.token_ids().begin(), response.token_ids().end());
    s.responses.push_back(response);
  }
  s.status = reader->Finish();
  return s;
}

v1::GenerateRequest ids_request(const std::vector<int32_t>& ids, int max_tokens) {
  v1::GenerateRequest r;
  for (int32_t id : ids) r.add_prompt_ids(id);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  return r;
}

std::unique_ptr<OpenStream> OpenStream::open(v1::Generation::Stub& stub, const v1::GenerateRequest& r,
                                             double deadline_s) {
  auto s = std::make_unique<OpenStream>();
  set_deadline(s->context, deadline_s);
  s->reader = stub.Generate(&s->context, r);
  s->started = s->reader->Read(&s->first);
  if (s->started) {
    s->responses = 1;
    s->tokens = s->first.token_ids_size();
  }
  return s;
}

grpc::Status OpenStream::finish() {
  for (v1::GenerateResponse r; reader->Read(&r);) {
    ++responses;
    tokens += r.token_ids_size();
  }
  return reader->Finish();
}

std::string metrics(const ServerProcess& s) {
  auto stub = v1::Monitoring::NewStub(connect(s));
  grpc::ClientContext context;
  set_deadline(context, 10);
  v1::GetMetricsResponse response;
  const grpc::Status status = stub->GetMetrics(&context, {}, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.text();
}

// The value of one metric line ("name{labels} value").
double metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return NAN;
  return std::stod(text.substr(at + name.size() + 2));
}

// Waits until every KV block is free again (cancellations reach the engine at its next step).
bool all_blocks_free(const ServerProcess& s, const std::string& model) {
  for (int i = 0; i < 400; ++i) {
    const std::string m = metrics(s);
    if (metric(m, "stepwise_kv_blocks_free{model=\"" + model + "\"}") ==
        metric(m, "stepwise_kv_blocks_total{model=\"" + model + "\"}"))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

// A unary call of `method` with raw bytes (any payload, valid or not); its status and response bytes.
std::pair<grpc::Status, std::string> raw_call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                                              const std::string& payload) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  set_deadline(context, 20);
  grpc::Slice slice(payload.data(), payload.size());
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(status); });
  const grpc::Status status = done.get_future().get();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (status.ok() && response.Dump(&slices).ok())
    for (const grpc::Slice& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return {status, bytes};
}

// grpc.health.v1.Health/Check for the whole server: the request (service "") is empty and a SERVING response is
// the two bytes 08 01.
std::pair<grpc::Status, std::string> health_check(const ServerProcess& s) {
  return raw_call(connect(s), "/grpc.health.v1.Health/Check", "");
}

std::vector<int32_t> random_ids(std::mt19937& gen, int n, int vocab) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(gen() % static_cast<unsigned>(vocab)));
  return ids;
}

}  // namespace stepwise::test

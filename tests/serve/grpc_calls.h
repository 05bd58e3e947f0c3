// Calls the serving tests make to a stepwise server with the C++ stubs: streamed Generate collected, metrics read
// and parsed, raw bytes to any method, the health check; and random prompts.
#pragma once

#include <grpcpp/grpcpp.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "server_process.h"
#include "stepwise/v1/generation.grpc.pb.h"

namespace stepwise::test {

std::shared_ptr<grpc::Channel> connect(const ServerProcess& s);
void set_deadline(grpc::ClientContext& c, double seconds);

struct Streamed {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::vector<v1::GenerateResponse> responses;
};
// One Generate call read to its end (bearer `token` when not empty).
Streamed generate(v1::Generation::Stub& stub, const v1::GenerateRequest& r, const std::string& token = "",
                  double deadline_s = 60);
// Greedy, ignoring the end-of-sequence token: exactly max_tokens new tokens.
v1::GenerateRequest ids_request(const std::vector<int32_t>& ids, int max_tokens);

// A Generate call in flight: open() returns once its first response came (or the call ended: `started` false).
struct OpenStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader;
  v1::GenerateResponse first;
  bool started = false;
  int responses = 0, tokens = 0;  // read so far, the first included

  static std::unique_ptr<OpenStream> open(v1::Generation::Stub& stub, const v1::GenerateRequest& r,
                                          double deadline_s = 60);
  // Reads the rest (counted in responses and tokens) and returns the call's status.
  grpc::Status finish();
};

std::string metrics(const ServerProcess& s);
// The value of one metric line ("name{labels} value"); NaN when it is missing.
double metric(const std::string& text, const std::string& name);
// Waits until every KV block of `model` is free again (cancellations reach the engine at its next step, and the
// coordinator learns of it with the group's next heartbeat).
bool all_blocks_free(const ServerProcess& s, const std::string& model);

// A unary call of `method` with raw bytes (any payload, valid or not); its status and response bytes.
std::pair<grpc::Status, std::string> raw_call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                                              const std::string& payload);
// grpc.health.v1.Health/Check for the whole server: the request (service "") is empty; a SERVING response is the
// two bytes 08 01, NOT_SERVING 08 02.
std::pair<grpc::Status, std::string> health_check(const ServerProcess& s);

std::vector<int32_t> random_ids(std::mt19937& gen, int n, int vocab);

}  // namespace stepwise::test

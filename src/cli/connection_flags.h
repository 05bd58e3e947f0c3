// The flags of a gRPC client of a stepwise server (`stepwise client`, `stepwise worker`): the address, the bearer
// token file, TLS material; and the channel and call metadata they make.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cli/command_line.h"

namespace stepwise::cli {

struct Connection {
  std::string server = "127.0.0.1:50051";
  std::string auth_token_file, tls_ca, tls_cert, tls_key;
  double timeout = 0;  // seconds; 0: none
};

// `address_flag` ("--server", "--coordinator") names the address; --timeout only with `with_timeout`.
void add_connection_flags(CLI::App& command, Connection& c, const std::string& address_flag = "--server",
                          bool with_timeout = true);
std::shared_ptr<grpc::Channel> channel(const Connection& c);
// The token file's first line; empty without --auth-token-file.
std::string bearer_token(const Connection& c);
// The bearer token and the deadline of one call.
void prepare(grpc::ClientContext& context, const Connection& c);
// A failed call as a StatusError naming the server (the code mapped to ours).
[[noreturn]] void fail_call(const grpc::Status& s, const Connection& c);

}  // namespace stepwise::cli

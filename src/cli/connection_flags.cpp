// Client connection flags: channel credentials and call metadata.
#include "cli/connection_flags.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "cli/flags.h"
#include "core/status.h"
#include "serve/auth.h"

namespace stepwise::cli {

namespace {

std::string read_file(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) invalid_argument(flag, ": cannot read ", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void add_connection_flags(CLI::App& command, Connection& c, const std::string& address_flag, bool with_timeout) {
  command.add_option(address_flag, c.server, address_flag == "--server" ? "the server's host:port"
                                                                        : "the coordinator's host:port")
      ->type_name("ADDR")
      ->capture_default_str();
  existing_file(command.add_option("--auth-token-file", c.auth_token_file,
                                   "send 'authorization: Bearer <the file's first line>'")
                    ->type_name("FILE"));
  existing_file(command.add_option("--tls-ca", c.tls_ca, "connect with TLS, trusting this PEM CA")->type_name("FILE"));
  existing_file(command.add_option("--tls-cert", c.tls_cert, "client certificate (PEM), with --tls-key")
                    ->type_name("FILE"));
  existing_file(command.add_option("--tls-key", c.tls_key, "the client certificate's key (PEM)")->type_name("FILE"));
  if (with_timeout)
    at_least(command.add_option("--timeout", c.timeout, "the call's deadline in seconds; 0: none")->type_name("S"),
             0);
}

std::shared_ptr<grpc::Channel> channel(const Connection& c) {
  if (c.tls_ca.empty() && c.tls_cert.empty()) return grpc::CreateChannel(c.server, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions ssl;
  if (!c.tls_ca.empty()) ssl.pem_root_certs = read_file(c.tls_ca, "--tls-ca");
  if (!c.tls_cert.empty()) {
    ssl.pem_cert_chain = read_file(c.tls_cert, "--tls-cert");
    ssl.pem_private_key = read_file(c.tls_key, "--tls-key");
  }
  return grpc::CreateChannel(c.server, grpc::SslCredentials(ssl));
}

std::string bearer_token(const Connection& c) {
  // Read as the server reads its own token file.
  return c.auth_token_file.empty() ? "" : serve::BearerAuth::from_file(c.auth_token_file).token();
}

void prepare(grpc::ClientContext& context, const Connection& c) {
  if (!c.auth_token_file.empty()) context.AddMetadata("authorization", "Bearer " + bearer_token(c));
  if (c.timeout > 0)
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::duration<double>(c.timeout)));
}

void fail_call(const grpc::Status& s, const Connection& c) {
  const StatusCode code = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT      ? StatusCode::kInvalidArgument
                          : s.error_code() == grpc::StatusCode::NOT_FOUND           ? StatusCode::kNotFound
                          : s.error_code() == grpc::StatusCode::UNAUTHENTICATED     ? StatusCode::kUnauthenticated
                          : s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED  ? StatusCode::kResourceExhausted
                          : s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ? StatusCode::kFailedPrecondition
                                                                                    : StatusCode::kUnavailable;
  fail(code, "server ", c.server, ": ", s.error_message(), " (gRPC status ", static_cast<int>(s.error_code()), ")");
}

}  // namespace stepwise::cli

// BearerAuth: the token file and the per-call check.
#include "serve/auth.h"

#include <fstream>

#include "core/status.h"

namespace stepwise::serve {

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

BearerAuth BearerAuth::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) invalid_argument("--auth-token-file: cannot read ", path);
  std::string line;
  std::getline(in, line);
  const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
  if (b == std::string::npos) invalid_argument("--auth-token-file: ", path, " holds no token on its first line");
  return BearerAuth(line.substr(b, e - b + 1));
}

grpc::Status BearerAuth::check(const grpc::ServerContext& context) const {
  if (!enabled()) return grpc::Status::OK;
  const auto& md = context.client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end())
    return {grpc::StatusCode::UNAUTHENTICATED, "this server needs the metadata 'authorization: Bearer <token>'"};
  const std::string given(it->second.data(), it->second.size());
  if (!constant_time_equal(given, "Bearer " + token_))
    return {grpc::StatusCode::UNAUTHENTICATED, "the bearer token does not match this server's"};
  return grpc::Status::OK;
}

}  // namespace stepwise::serve

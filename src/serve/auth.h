// BearerAuth: the server's optional token. With one, every call of the stepwise services must carry the metadata
// "authorization: Bearer <token>" (UNAUTHENTICATED otherwise); grpc.health.v1 stays open. The comparison takes the
// same time wherever the first difference is.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace stepwise::serve {

class BearerAuth {
 public:
  BearerAuth() = default;  // no token: every call allowed
  // The token is the file's first line (surrounding whitespace dropped); an empty file is an error naming it.
  static BearerAuth from_file(const std::string& path);
  explicit BearerAuth(std::string token) : token_(std::move(token)) {}

  bool enabled() const { return !token_.empty(); }
  const std::string& token() const { return token_; }  // for the server's in-process worker groups
  grpc::Status check(const grpc::ServerContext& context) const;

 private:
  std::string token_;
};

// Equal strings, in time that depends on the lengths only.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace stepwise::serve

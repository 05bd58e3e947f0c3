// Errors: a Status (code + message) thrown as StatusError, with context added as it propagates.
// Codes mirror gRPC's status codes, so that an RPC layer can map them one to one; check macros name file:line
// for internal bugs.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace stepwise {

enum class StatusCode { kOk, kInvalidArgument, kNotFound, kDataLoss, kResourceExhausted, kUnavailable,
                        kUnauthenticated, kFailedPrecondition, kInternal, kUnimplemented };

const char* status_code_name(StatusCode code);

class StatusError : public std::runtime_error {
 public:
  StatusError(StatusCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  StatusCode code() const { return code_; }
  // A new error whose message is "context: message", same code.
  StatusError with_context(const std::string& context) const { return StatusError(code_, context + ": " + what()); }

 private:
  StatusCode code_;
};

namespace detail {
// Streams its arguments into one string: errors are composed as `fail(code, "tensor ", name, " has ", n)`.
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

template <class... Args>
[[noreturn]] void fail(StatusCode code, const Args&... args) {
  throw StatusError(code, detail::concat(args...));
}
template <class... Args>
[[noreturn]] void invalid_argument(const Args&... args) {
  fail(StatusCode::kInvalidArgument, args...);
}

}  // namespace stepwise

// An internal invariant: a failure is a bug in stepwise, reported with its place in the source.
#define SW_CHECK(cond, ...)                                                                     \
  do {                                                                                          \
    if (!(cond))                                                                                \
      ::stepwise::fail(::stepwise::StatusCode::kInternal, __FILE__, ":", __LINE__, ": check `", \
                       #cond, "` failed: ", ##__VA_ARGS__);                                     \
  } while (0)

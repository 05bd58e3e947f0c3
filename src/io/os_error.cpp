// Maps errno of a failed file operation to a StatusCode and a message naming the file.
#include "io/os_error.h"

#include <cerrno>
#include <cstring>

#include "core/status.h"

namespace stepwise {

void fail_os_error(const std::string& action, const std::string& path, int err) {
  StatusCode code = StatusCode::kUnavailable;
  switch (err) {
    case ENOENT:
    case ENOTDIR: code = StatusCode::kNotFound; break;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: code = StatusCode::kResourceExhausted; break;
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR: code = StatusCode::kFailedPrecondition; break;
    default: break;
  }
  fail(code, action, " ", path, ": ", std::strerror(err));
}

}  // namespace stepwise

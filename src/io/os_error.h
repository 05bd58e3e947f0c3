// The StatusError for a failed system call on a file: its code follows errno (missing file -> NOT_FOUND, disk
// full -> RESOURCE_EXHAUSTED, no permission -> FAILED_PRECONDITION, else UNAVAILABLE) and its message names
// what was attempted, the path and the system's reason.
#pragma once

#include <string>

namespace stepwise {

// e.g. fail_os_error("cannot open", "/ckpt/model.safetensors", errno)
//   -> NOT_FOUND "cannot open /ckpt/model.safetensors: No such file or directory"
[[noreturn]] void fail_os_error(const std::string& action, const std::string& path, int err);

}  // namespace stepwise

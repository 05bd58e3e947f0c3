// write_file_atomic: temporary file, fsync, rename, fsync of the directory.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "core/status.h"
#include "io/os_error.h"

namespace stepwise {

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_os_error("cannot open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail_os_error("cannot fsync directory", dir, err);
}

namespace {

// Unique among threads (counter) and processes (pid) writing the same target at once.
std::string temp_name_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

// Writes and closes the temporary file; the stream is closed on every path out.
void write_and_sync(const std::string& tmp, const std::function<void(std::FILE*)>& write) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail_os_error("cannot create", tmp, errno);
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    const int err = errno;
    ::close(fd);
    fail_os_error("cannot open stream on", tmp, err);
  }
  try {
    errno = 0;  // so that a failed fwrite's reason, not an older one, is reported
    write(f);
    if (std::ferror(f)) fail_os_error("cannot write", tmp, errno ? errno : EIO);
    if (std::fflush(f) != 0) fail_os_error("cannot write", tmp, errno);
    if (::fsync(fd) != 0) fail_os_error("cannot fsync", tmp, errno);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) fail_os_error("cannot close", tmp, errno);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  const std::string tmp = temp_name_for(path);
  try {
    write_and_sync(tmp, write);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail_os_error("cannot rename " + tmp + " to", path, errno);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_directory(parent_directory(path));
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, [&](std::FILE* f) { std::fwrite(contents.data(), 1, contents.size(), f); });
}

}  // namespace stepwise

// Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename it over the
// target, fsync the directory. A reader (or a restart after a crash) sees the old file or the new one, whole,
// never a mix. Used for safetensors, configs and checkpoint manifests.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace stepwise {

// Creates or replaces `path` with what `write` puts into the stream. Write errors are detected after `write`
// returns (ferror, fflush, fsync, fclose). If `write` throws or any step up to the rename fails, the temporary
// file is removed, `path` keeps its old contents, and the error propagates (a StatusError naming the file).
// A failure of the final directory fsync is reported too, though the new file is then already in place.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);
void write_file_atomic(const std::string& path, const std::string& contents);

// fsync of a directory, so that a file created or renamed in it survives a crash (e.g. after renaming a
// checkpoint directory into place).
void fsync_directory(const std::string& dir);

// The directory holding `path` ("." for a bare file name).
std::string parent_directory(const std::string& path);

}  // namespace stepwise

// Shared by the launcher tests (tests/launch): the small files they write (stand-in programs, hostfiles), shell
// quoting, and where the repository and the build are. Commands run through tests/common/process.h.
#pragma once

#include <string>

#include "common/process.h"

namespace stepwise::launch_test {

// `text` quoted for /bin/sh (one word, taken literally).
std::string shell_quote(const std::string& text);

// A new empty directory under the test's temporary directory.
std::string fresh_dir(const std::string& name);
void write_file(const std::string& path, const std::string& text, bool executable = false);
std::string read_file(const std::string& path);

// The repository (the source tree) and the build tree the tests belong to.
std::string repo_root();
std::string build_dir();

}  // namespace stepwise::launch_test

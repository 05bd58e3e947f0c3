// Shared by the launcher tests (tests/launch): the small files they write (stand-in programs, hostfiles), shell
// quoting, and where the repository and the build are. Commands run through tests/common/process.h.
#pragma once

#include <string>

#include "common/process.h"
#include "common/test_dir.h"

namespace stepwise::launch_test {

// `text` quoted for /bin/sh (one word, taken literally).
std::string shell_quote(const std::string& text);

using test::fresh_test_dir;
void write_file(const std::string& path, const std::string& text, bool executable = false);
std::string read_file(const std::string& path);

// The repository (the source tree) and the build tree the tests belong to.
std::string repo_root();
std::string build_dir();

}  // namespace stepwise::launch_test

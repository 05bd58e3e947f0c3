// A scratch directory for one test: TempDir()/stepwise-PID-NAME, emptied and created. The pid keeps ctest's
// parallel test processes (each test runs in its own) and repeated runs out of each other's way.
#pragma once

#include <string>

namespace stepwise::test {

std::string fresh_test_dir(const std::string& name);

}  // namespace stepwise::test

// Multi-step arithmetic word problems with worked step-by-step solutions, for the embedded demo: seeded and
// deterministic. A problem counts containers and then their contents: "Mia has 7 boxes of 6 pens. She gives away
// 3 boxes and then buys 2 more boxes. How many pens now?" The solution writes one operation per
// line: "7-3=4", "4+2=6", "6*6=36". Each step is a one-digit table fact (the box count stays within 1..9); the
// answer needs all of them at once, which is what the demo measures: with the steps written out a small model
// only has to learn the tables, without them it has to compose them in one forward pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace stepwise {

struct ArithmeticTaskOptions {
  int min_steps = 3, max_steps = 3;  // operations per problem, 2..4: 1-3 changes of the count, then the product
  int max_count = 9;                 // containers: 1..max_count at every step (so each +/- is a one-digit fact)
  int max_items = 9;                 // items per container: 2..max_items
};

struct ArithmeticProblem {
  std::string question;
  std::string expression;          // "(7-3+2)*6": the problem's numbers, to keep test problems out of training
  std::vector<std::string> steps;  // "7-3=4", "4+2=6", "6*6=36"
  int64_t answer = 0;

  std::string worked_steps() const;  // the steps, one per line
};

class ArithmeticTaskGenerator {
 public:
  ArithmeticTaskGenerator(uint64_t seed, const ArithmeticTaskOptions& options);
  ArithmeticProblem next();

 private:
  Rng rng_;
  ArithmeticTaskOptions options_;
};

}  // namespace stepwise

// The demo's word-problem generator: names, containers, items and events drawn from small lists.
#include "eval/arithmetic_tasks.h"

#include <cstdio>

#include "core/status.h"

namespace stepwise {

namespace {

struct Person {
  const char* name;
  const char* pronoun;  // "She", "He"
};
constexpr Person kPeople[] = {{"Mia", "She"}, {"Tom", "He"}, {"Ana", "She"}, {"Sam", "He"},
                              {"Lea", "She"}, {"Ben", "He"}, {"Ivy", "She"}, {"Max", "He"}};
struct Container {
  const char* plural;
  const char* singular;
};
constexpr Container kContainers[] = {{"boxes", "box"}, {"bags", "bag"}, {"jars", "jar"}, {"packs", "pack"},
                                     {"crates", "crate"}};
constexpr const char* kItems[] = {"apples", "pens", "shells", "coins", "cards", "eggs", "stamps", "marbles"};
// Events that change the number of containers ("%d %s": the amount and the containers).
struct Event {
  const char* text;
  bool adds;
};
constexpr Event kRemove[] = {{"gives away %d %s", false}, {"loses %d %s", false}, {"sells %d %s", false}};
constexpr Event kAdd[] = {{"buys %d more %s", true}, {"finds %d more %s", true}, {"gets %d more %s", true}};

template <class T, size_t N>
const T& pick(Rng& rng, const T (&list)[N]) {
  return list[rng.below(N)];
}

int64_t uniform(Rng& rng, int64_t lo, int64_t hi) {  // [lo, hi]
  return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
}

}  // namespace

std::string ArithmeticProblem::worked_steps() const {
  std::string s;
  for (const std::string& step : steps) s += (s.empty() ? "" : "\n") + step;
  return s;
}

ArithmeticTaskGenerator::ArithmeticTaskGenerator(uint64_t seed, const ArithmeticTaskOptions& options)
    : rng_(seed), options_(options) {
  if (options.min_steps < 2 || options.max_steps > 4 || options.min_steps > options.max_steps)
    invalid_argument("arithmetic tasks: steps must satisfy 2 <= min_steps <= max_steps <= 4");
  if (options.max_count < 3 || options.max_items < 2)
    invalid_argument("arithmetic tasks: max_count must be >= 3 and max_items >= 2");
}

ArithmeticProblem ArithmeticTaskGenerator::next() {
  const Person& who = pick(rng_, kPeople);
  const Container& container = pick(rng_, kContainers);
  const char* item = pick(rng_, kItems);
  const int changes = static_cast<int>(uniform(rng_, options_.min_steps, options_.max_steps)) - 1;
  int64_t count = uniform(rng_, 2, options_.max_count);
  const int64_t per = uniform(rng_, 2, options_.max_items);

  ArithmeticProblem p;
  p.question = std::string(who.name) + " has " + std::to_string(count) + " " + container.plural + " of " +
               std::to_string(per) + " " + item + ". " + who.pronoun + " ";
  p.expression = "(" + std::to_string(count);
  for (int c = 0; c < changes; ++c) {
    // Remove when there are enough to remove and room is short, add otherwise; the count stays in 1..max_count.
    const bool can_remove = count > 1, can_add = count < options_.max_count;
    const bool adds = can_add && (!can_remove || rng_.below(2) == 0);
    const int64_t amount = adds ? uniform(rng_, 1, options_.max_count - count) : uniform(rng_, 1, count - 1);
    const Event& e = adds ? pick(rng_, kAdd) : pick(rng_, kRemove);
    const int64_t next = adds ? count + amount : count - amount;
    const std::string op = adds ? "+" : "-";
    p.steps.push_back(std::to_string(count) + op + std::to_string(amount) + "=" + std::to_string(next));
    p.expression += op + std::to_string(amount);
    char event[64];
    std::snprintf(event, sizeof event, e.text, static_cast<int>(amount),
                  amount == 1 ? container.singular : container.plural);
    p.question += std::string(c == 0 ? "" : c + 1 == changes ? " and then " : ", then ") + event;
    count = next;
  }
  p.answer = count * per;
  p.steps.push_back(std::to_string(count) + "*" + std::to_string(per) + "=" + std::to_string(p.answer));
  p.expression += ")*" + std::to_string(per);
  p.question += std::string(". How many ") + item + " now?";
  return p;
}

}  // namespace stepwise

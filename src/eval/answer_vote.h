// Self-consistency (Wang et al. 2022; Raschka, "Reasoning from scratch", ch. 4): K sampled answers to one problem,
// the most frequent one wins. Answers are grouped into equivalence classes with the grader's answers_match (so
// "\frac12", "0.5" and "1/2" are one vote), not by string. A sample without an extracted answer does not vote.
// Tie rule: among the classes with the most votes, the one whose first member was sampled first wins (the order
// Python's Counter.most_common keeps); the book instead scores a tie as no answer. Ties are counted in reports.
// Best-of-K picks the sample with the highest mean token log-probability (ties: the lowest index).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stepwise {

struct AnswerVote {
  int64_t winner = -1;            // a sample of the winning class (its first); -1: no sample has an answer
  int64_t votes = 0;              // the winning class's size
  bool tie = false;               // another class has as many votes
  std::vector<int64_t> class_of;  // per sample: its class, -1 without an answer
  std::vector<int64_t> class_sizes;
};

AnswerVote majority_vote(const std::vector<std::optional<std::string>>& answers);

// The index of the largest mean log-probability; -1 for no samples.
int64_t best_by_mean_logprob(const std::vector<double>& mean_logprobs);

}  // namespace stepwise

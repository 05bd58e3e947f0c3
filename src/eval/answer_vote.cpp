// Majority vote over equivalence classes of answers; best-of-K by mean log-probability.
#include "eval/answer_vote.h"

#include "eval/answer.h"

namespace stepwise {

AnswerVote majority_vote(const std::vector<std::optional<std::string>>& answers) {
  AnswerVote vote;
  std::vector<int64_t> first_member;  // per class: its first sample, whose answer stands for the class
  for (size_t i = 0; i < answers.size(); ++i) {
    int64_t cls = -1;
    if (answers[i]) {
      for (size_t c = 0; c < first_member.size() && cls < 0; ++c)
        if (answers_match(*answers[i], *answers[static_cast<size_t>(first_member[c])])) cls = static_cast<int64_t>(c);
      if (cls < 0) {
        cls = static_cast<int64_t>(first_member.size());
        first_member.push_back(static_cast<int64_t>(i));
        vote.class_sizes.push_back(0);
      }
      ++vote.class_sizes[static_cast<size_t>(cls)];
    }
    vote.class_of.push_back(cls);
  }
  // Classes are numbered in order of their first member, so the first class with the most votes wins ties.
  for (size_t c = 0; c < vote.class_sizes.size(); ++c) {
    if (vote.class_sizes[c] > vote.votes) {
      vote.votes = vote.class_sizes[c];
      vote.winner = first_member[c];
      vote.tie = false;
    } else if (vote.class_sizes[c] == vote.votes) {
      vote.tie = true;
    }
  }
  return vote;
}

int64_t best_by_mean_logprob(const std::vector<double>& mean_logprobs) {
  int64_t best = -1;
  for (size_t i = 0; i < mean_logprobs.size(); ++i)
    if (best < 0 || mean_logprobs[i] > mean_logprobs[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

}  // namespace stepwise

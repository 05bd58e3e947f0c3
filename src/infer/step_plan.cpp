// StepPlan to and from int32 words: kind, then each list as its length followed by its elements.
#include "infer/step_plan.h"

#include "core/status.h"

namespace stepwise {

namespace {

void put(std::vector<int32_t>& w, const std::vector<int32_t>& list) {
  w.push_back(static_cast<int32_t>(list.size()));
  w.insert(w.end(), list.begin(), list.end());
}

class WordReader {
 public:
  explicit WordReader(const std::vector<int32_t>& w) : w_(w) {}
  int32_t next() {
    SW_CHECK(at_ < w_.size(), "step plan ends at word ", at_);
    return w_[at_++];
  }
  std::vector<int32_t> list() {
    const int32_t n = next();
    SW_CHECK(n >= 0 && static_cast<size_t>(n) <= w_.size() - at_, "step plan list of ", n, " at word ", at_);
    std::vector<int32_t> out(w_.begin() + static_cast<int64_t>(at_), w_.begin() + static_cast<int64_t>(at_) + n);
    at_ += static_cast<size_t>(n);
    return out;
  }
  bool done() const { return at_ == w_.size(); }

 private:
  const std::vector<int32_t>& w_;
  size_t at_ = 0;
};

}  // namespace

std::vector<int32_t> encode_step_plan(const StepPlan& plan) {
  std::vector<int32_t> w{static_cast<int32_t>(plan.kind)};
  if (plan.kind != StepPlan::Kind::kStep) return w;
  std::vector<int32_t> copies;
  for (const auto& [from, to] : plan.block_copies) {
    copies.push_back(from);
    copies.push_back(to);
  }
  const PagedStep& s = plan.step;
  put(w, copies);
  put(w, s.tokens);
  put(w, s.positions);
  put(w, s.slots);
  put(w, s.cu_q);
  put(w, s.seq_lens);
  w.push_back(static_cast<int32_t>(s.max_blocks));
  put(w, s.block_tables);
  put(w, s.logit_rows);
  return w;
}

StepPlan decode_step_plan(const std::vector<int32_t>& words) {
  WordReader r(words);
  StepPlan plan;
  const int32_t kind = r.next();
  SW_CHECK(kind >= 1 && kind <= 3, "step plan kind ", kind);
  plan.kind = static_cast<StepPlan::Kind>(kind);
  if (plan.kind != StepPlan::Kind::kStep) return plan;
  const std::vector<int32_t> copies = r.list();
  SW_CHECK(copies.size() % 2 == 0, "step plan block copies of odd length ", copies.size());
  for (size_t i = 0; i < copies.size(); i += 2) plan.block_copies.emplace_back(copies[i], copies[i + 1]);
  PagedStep& s = plan.step;
  s.tokens = r.list();
  s.positions = r.list();
  s.slots = r.list();
  s.cu_q = r.list();
  s.seq_lens = r.list();
  s.max_blocks = r.next();
  s.block_tables = r.list();
  s.logit_rows = r.list();
  SW_CHECK(r.done(), "step plan has words past its end");
  return plan;
}

}  // namespace stepwise

// Fuzz target: the answer grader (eval/answer.h, eval/answer_equivalence.h) on arbitrary model output. The input
// is a completion, then a NUL byte, then a reference. Properties: nothing crashes or hangs (the parsers' depth,
// length and exponent bounds); an answer is equivalent to itself whenever it normalises to something; the
// verdict does not depend on which side is the reference.
#include <string>

#include "eval/answer.h"
#include "eval/answer_equivalence.h"
#include "fuzz_util.h"

using namespace stepwise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string completion = input.substr(0, nul);
  const std::string reference = nul == std::string::npos ? "" : input.substr(nul + 1);
  const std::string predicted = extract_answer(completion, AnswerFallback::kNumberThenFull).value_or("");
  const AnswerComparison forward = compare_answers(predicted, reference);
  if (forward.equal != compare_answers(reference, predicted).equal)
    fuzz::finding("the verdict depends on the order: '", predicted, "' vs '", reference, "'");
  if (!normalize_answer(reference).empty() && !compare_answers(reference, reference).equal)
    fuzz::finding("'", reference, "' is not equivalent to itself");
  return 0;
}

// Final answers of reasoning completions (MATH-500, GSM8K), and whether they are equivalent to a reference; the
// conventions follow the sympy-based grader of "Reasoning from scratch" (rasbt, ch03 and its hybrid parser).
//
// Extraction works on the text after the last </think> (all of it when there is none): the content of the last
// \boxed{...} or \fbox{...} (nested braces); when that box is cut off or there is none, the rest of the line after
// the last "####", then what follows the last "the answer is"; then the final-number fallback (the last number in
// the text, as the book's extract_final_candidate). A box must have braces, as in the book.
//
// Normalisation (normalize_answer) removes what does not change the value: $ and \( \) \[ \], \left \right,
// spacing (\, \! \; \: \quad ~), \dfrac/\tfrac -> \frac, degrees (^\circ, °), percent and dollar signs, units
// (\text{ cm}, a trailing "inches"), \text{...} around the whole answer, thousands separators (1,234 -> 1234),
// spaces, trailing periods, a leading choice label ("b: 2"). Percent follows the book: the sign is dropped, so
// 10\% equals 10, not 0.1. A leading "x =" is not removed here but understood by the equivalence check
// (answer_equivalence.h), so that "x = 3" equals "3" while "y = 2x+1" and "x = 2x+1" still differ.
#pragma once

#include <optional>
#include <string>

namespace stepwise {

// What extract_answer returns when the completion has no box, "####" or "the answer is".
enum class AnswerFallback {
  kNone,            // nothing
  kNumber,          // the last number in the text (the default)
  kNumberThenFull,  // the last number, else the whole (trimmed) text: the book's default "number_then_full"
};

// The final answer of a completion, or nullopt when there is none. The default fallback is the last number:
// the book's behaviour without its second fallback (the whole text), which would make every completion "extract".
std::optional<std::string> extract_answer(const std::string& completion,
                                          AnswerFallback fallback = AnswerFallback::kNumber);
std::string normalize_answer(const std::string& answer);
// Mathematical equivalence of a predicted answer and a reference (both as extracted, not yet normalised); see
// compare_answers in answer_equivalence.h for the rules and for how the verdict was reached.
bool answers_match(const std::string& predicted, const std::string& reference);

}  // namespace stepwise

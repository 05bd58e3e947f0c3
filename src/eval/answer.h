// Final answers of reasoning completions, and exact checking against a reference. The answer is the content of
// the last \boxed{...} (balanced braces) after the reasoning (text after </think> when there is one); without a
// box, the number after the last "####", or after the last "answer is"; else none. Checking is exact after a
// light normalisation (spaces, $, \!, thousands separators, trailing "."), numerically when both sides are numbers.
#pragma once

#include <optional>
#include <string>

namespace stepwise {

std::optional<std::string> extract_answer(const std::string& completion);
std::string normalize_answer(const std::string& answer);
bool answers_match(const std::string& predicted, const std::string& reference);

}  // namespace stepwise

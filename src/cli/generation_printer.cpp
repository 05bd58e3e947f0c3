// GenerationPrinter: the printing of generate and client generate.
#include "cli/generation_printer.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace stepwise::cli {

namespace {

nlohmann::ordered_json logprobs_json(const std::vector<SampledToken>& tokens) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const SampledToken& t : tokens) {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const TokenLogprob& x : t.top) top.push_back({x.token, x.logprob});
    out.push_back({{"token", t.token}, {"logprob", t.logprob}, {"top", top}});
  }
  return out;
}

}  // namespace

void GenerationPrinter::operator()(const GenerationChunk& c) {
  Sample& s = samples_[c.index];
  s.ids.insert(s.ids.end(), c.token_ids.begin(), c.token_ids.end());
  s.logprobs.insert(s.logprobs.end(), c.logprobs.begin(), c.logprobs.end());
  if (stream_) {
    print_text(s, c.reasoning_text, c.text);
    std::fflush(stdout);
  } else {
    s.reasoning += c.reasoning_text;
    s.text += c.text;
  }
  if (c.finish == FinishReason::kNone) return;
  if (c.finish == FinishReason::kError) fail(StatusCode::kInternal, "generation failed: ", c.error);
  if (stream_) return close_text(s);
  if (json_) {
    nlohmann::ordered_json j{{"index", c.index},
                             {"token_ids", s.ids},
                             {"text", s.text},
                             {"reasoning_text", s.reasoning},
                             {"finish_reason", finish_reason_name(c.finish)},
                             {"prompt_tokens", c.prompt_tokens},
                             {"completion_tokens", c.completion_tokens}};
    if (!s.logprobs.empty()) j["logprobs"] = logprobs_json(s.logprobs);
    std::printf("%s\n", j.dump().c_str());
  } else if (ids_only_) {
    std::printf("%s\n", nlohmann::json(s.ids).dump().c_str());
  } else {
    if (samples_.size() > 1 || c.index > 0) std::printf("--- sample %lld ---\n", static_cast<long long>(c.index));
    Sample shown;
    print_text(shown, s.reasoning, s.text);
    close_text(shown);
  }
  std::fflush(stdout);
}

void GenerationPrinter::print_text(Sample& s, const std::string& reasoning, const std::string& text) {
  if (!reasoning.empty()) {
    if (!s.in_think) std::printf("<think>\n");
    s.in_think = true;
    std::fputs(reasoning.c_str(), stdout);
  }
  if (!text.empty()) {
    if (s.in_think) std::printf("\n</think>\n\n");
    s.in_think = false;
    std::fputs(text.c_str(), stdout);
  }
}

void GenerationPrinter::close_text(Sample& s) {
  if (s.in_think) std::printf("\n</think>");
  s.in_think = false;
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace stepwise::cli

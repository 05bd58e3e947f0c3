// GenerationPrinter: how `stepwise generate` and `stepwise client generate` print a request's chunks: the new ids
// as one JSON array per sample (id prompts), the text as it streams (one text sample: a chat's reasoning inside
// <think>...</think>, then the answer), each sample's text once it is done (several samples), or one JSON object
// per sample (--json: token_ids, text, reasoning_text, finish_reason, usage, logprobs).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "infer/engine.h"

namespace stepwise::cli {

class GenerationPrinter {
 public:
  GenerationPrinter(bool ids_only, bool json, int64_t samples)
      : ids_only_(ids_only), json_(json), stream_(!json && !ids_only && samples == 1) {}

  // A chunk with kError is INTERNAL, naming the error.
  void operator()(const GenerationChunk& chunk);

 private:
  struct Sample {
    std::vector<int32_t> ids;
    std::vector<SampledToken> logprobs;
    std::string reasoning, text;
    bool in_think = false;
  };
  static void print_text(Sample& s, const std::string& reasoning, const std::string& text);
  static void close_text(Sample& s);

  bool ids_only_, json_, stream_;
  std::map<int64_t, Sample> samples_;
};

}  // namespace stepwise::cli

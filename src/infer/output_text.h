// OutputTextStream: what a client sees of one generated sequence, from its token ids as they come: text decoded
// incrementally (UTF-8 safe: a character split across tokens is never shown half), split into `reasoning_text`
// (inside <think>…</think>) and `text` (the answer), and cut at the first stop string (matched on the decoded text
// across token boundaries; the stop string itself is not shown). Ids the tokenizer does not know (a model's
// embedding padded past the vocabulary) show no text.
//
// Reasoning follows the Qwen3 chat template, which writes an assistant turn as
// "<think>\n" + reasoning.strip("\n") + "\n</think>\n\n" + content.lstrip("\n"): the <think> and </think> tokens are
// not shown, newlines right after <think> and right before </think> are dropped (a run of newlines inside the
// reasoning is held back until something other than </think> follows, and dropped at the end), and so are newlines
// right after </think>. A generation cut off inside the reasoning has only reasoning_text. <think> opens the think
// block only before any answer text and before </think> (elsewhere it is plain text), and </think> closes it only
// inside it. Without <think> (and without starts_in_reasoning) everything is `text`. Special tokens (<|im_end|>, ...)
// are not shown. Without reasoning split, every token's text (but specials) is `text`, <think> included.
// An incomplete character at a channel switch ends its channel as U+FFFD.
//
// Stop strings are matched on the shown text within one channel (reasoning or answer) at a time: text that could
// still begin a stop string is held back until it cannot, and released at a channel switch or at finish(). A stop
// string in the reasoning ends the whole sequence, as one in the answer does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/incremental_decoder.h"
#include "tokenizer/tokenizer.h"

namespace stepwise {

// Finds the first occurrence of any of `stops` in text that arrives in pieces. The longest end of the text that is
// a proper prefix of some stop string is held back; everything before it is released at once. The text stops at the
// first push that completes a stop string; when that push completes several, the one starting earliest wins (the
// shown text is then the shortest). Matching is by bytes: stop strings are valid UTF-8, so with whole characters
// pushed, released text always ends on a character boundary.
class StopStringMatcher {
 public:
  // An empty or non-UTF-8 string is INVALID_ARGUMENT naming it as "stop[i]".
  explicit StopStringMatcher(std::vector<std::string> stops);

  struct Result {
    std::string text;      // safe to show now
    bool stopped = false;  // a stop string completed: `text` ends just before it, and the rest is dropped
  };
  Result push(const std::string& piece);  // after a stop: {"", true}
  std::string flush();  // the held-back text (no stop string can complete any more); matching goes on afresh
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// The ids of "<think>" and "</think>" in `tokenizer`, when it has both.
struct ThinkTokens {
  int32_t start = 0, end = 0;
};
std::optional<ThinkTokens> find_think_tokens(const Tokenizer& tokenizer);

struct OutputTextOptions {
  bool split_reasoning = false;      // route <think>…</think> to reasoning_text (needs the tokenizer's think ids)
  bool starts_in_reasoning = false;  // the prompt already opened the think block (it ends with <think>); needs
                                     // split_reasoning, ignored without it
  std::vector<std::string> stop;
};

struct TextDelta {
  std::string text, reasoning_text;
  bool stopped = false;  // a stop string matched; later pushes are ignored (and answer {"", "", true})
};

class OutputTextStream {
 public:
  // `tokenizer` must outlive the stream. split_reasoning with a tokenizer that has no "<think>" / "</think>"
  // tokens is INVALID_ARGUMENT.
  OutputTextStream(const Tokenizer& tokenizer, const OutputTextOptions& options);

  TextDelta push(int32_t id);
  TextDelta finish();  // end of the sequence: releases held-back text (an incomplete character becomes U+FFFD)

  bool in_reasoning() const { return in_reasoning_; }

 private:
  // Decoded text into the current channel: newline trimming, then the stop strings.
  void route(std::string piece, TextDelta* delta);
  // Ends the current channel: its incomplete character, its held newlines (dropped) and held stop-string prefix.
  void close_channel(TextDelta* delta);

  const Tokenizer& tokenizer_;
  IncrementalDecoder decoder_;
  StopStringMatcher matcher_;
  std::optional<ThinkTokens> think_;  // set when reasoning is split
  bool in_reasoning_ = false;
  bool think_closed_ = false;     // </think> came: a later <think> is plain text
  bool answer_started_ = false;   // answer text came: a later <think> is plain text
  bool trim_newlines_ = false;    // at the start of the reasoning, or of the answer after </think>
  size_t held_newlines_ = 0;      // the reasoning's trailing newlines, shown only if more reasoning follows
};

}  // namespace stepwise

// OutputTextStream and StopStringMatcher: generated ids to the text a client is shown, split into reasoning and
// answer, cut at stop strings.
#include "infer/output_text.h"

#include <algorithm>

#include "core/status.h"
#include "tokenizer/utf8.h"

namespace stepwise {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) invalid_argument("stop[", i, "] is empty; remove it or give the text to stop at");
    if (find_invalid_utf8(stops_[i]) != stops_[i].size())
      invalid_argument("stop[", i, "] is not valid UTF-8 (byte ", find_invalid_utf8(stops_[i]),
                       "); give the stop string as text");
  }
}

StopStringMatcher::Result StopStringMatcher::push(const std::string& piece) {
  if (stopped_) return {"", true};
  // held_ never contains a whole stop string, and no stop string starts in the text released before it: a match
  // can only start in held_ + piece.
  held_ += piece;
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    Result result{held_.substr(0, first), true};
    held_.clear();
    stopped_ = true;
    return result;
  }
  size_t hold = 0;  // the longest end of held_ that some stop string begins with
  for (const std::string& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, held_.size()); len > hold; --len) {
      if (held_.compare(held_.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  Result result{held_.substr(0, held_.size() - hold), false};
  held_.erase(0, held_.size() - hold);
  return result;
}

std::string StopStringMatcher::flush() {
  std::string held = std::move(held_);
  held_.clear();
  return held;
}

std::optional<ThinkTokens> find_think_tokens(const Tokenizer& tokenizer) {
  const std::optional<int32_t> start = tokenizer.token_to_id("<think>"), end = tokenizer.token_to_id("</think>");
  if (!start || !end) return std::nullopt;
  return ThinkTokens{*start, *end};
}

OutputTextStream::OutputTextStream(const Tokenizer& tokenizer, const OutputTextOptions& options)
    : tokenizer_(tokenizer), decoder_(tokenizer, /*skip_special_tokens=*/true), matcher_(options.stop) {
  if (!options.split_reasoning) return;
  think_ = find_think_tokens(tokenizer);
  if (!think_)
    invalid_argument("split_reasoning needs \"<think>\" and \"</think>\" tokens, and the tokenizer ",
                     tokenizer.source(), " lacks them: turn reasoning split off for this model");
  in_reasoning_ = trim_newlines_ = options.starts_in_reasoning;
}

TextDelta OutputTextStream::push(int32_t id) {
  TextDelta delta;
  if (matcher_.stopped()) {
    delta.stopped = true;
    return delta;
  }
  if (think_ && id == think_->start && !in_reasoning_ && !think_closed_ && !answer_started_) {
    close_channel(&delta);
    in_reasoning_ = trim_newlines_ = true;
  } else if (think_ && id == think_->end && in_reasoning_) {
    close_channel(&delta);
    in_reasoning_ = false;
    think_closed_ = trim_newlines_ = true;
  } else if (tokenizer_.has_id(id)) {
    route(decoder_.push(id), &delta);
  }
  delta.stopped = matcher_.stopped();
  return delta;
}

TextDelta OutputTextStream::finish() {
  TextDelta delta;
  if (!matcher_.stopped()) close_channel(&delta);
  delta.stopped = matcher_.stopped();
  return delta;
}

void OutputTextStream::route(std::string piece, TextDelta* delta) {
  if (trim_newlines_) {
    piece.erase(0, piece.find_first_not_of('\n'));  // all of it when it is only newlines
    if (!piece.empty()) trim_newlines_ = false;
  }
  if (piece.empty()) return;
  if (in_reasoning_) {
    // The newlines held so far go out now that something else follows; this piece's own trailing run is held.
    const size_t end = piece.find_last_not_of('\n') + 1;  // 0 when the piece is only newlines (npos + 1)
    if (end == 0) {
      held_newlines_ += piece.size();
      return;
    }
    const size_t trailing = piece.size() - end;
    piece.resize(end);
    piece.insert(0, held_newlines_, '\n');
    held_newlines_ = trailing;
  } else {
    answer_started_ = true;
  }
  (in_reasoning_ ? delta->reasoning_text : delta->text) += matcher_.push(piece).text;
}

void OutputTextStream::close_channel(TextDelta* delta) {
  route(decoder_.finish(), delta);
  held_newlines_ = 0;  // newlines before </think>, or at the end of the reasoning, are not shown
  (in_reasoning_ ? delta->reasoning_text : delta->text) += matcher_.flush();
}

}  // namespace stepwise

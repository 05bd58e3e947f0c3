// Fuzz target: the serving engine's streamed text (infer/output_text.h) for an arbitrary stream of Qwen3 token ids
// (every 3 bytes, modulo the vocabulary, with <think> and </think> made frequent) and arbitrary stop strings (the
// input's first line, split at '|'). Properties: every delta is valid UTF-8 (no character split across chunks);
// without reasoning split or stops, the text is exactly decode(ids, skip_special_tokens); with stops, the text is
// a prefix of that decode that holds no stop string and, when a stop matched, ends where one begins (the first to
// complete); stopped exactly when the decode holds a stop string; after a stop, nothing more comes.
#include <string_view>

#include "fuzz_qwen3.h"
#include "fuzz_util.h"
#include "infer/output_text.h"
#include "tokenizer/utf8.h"

using namespace stepwise;

namespace {

struct Streamed {
  std::string text, reasoning;
  bool stopped = false;
};

Streamed stream(const Tokenizer& tokenizer, const OutputTextOptions& options, const std::vector<int32_t>& ids) {
  OutputTextStream out(tokenizer, options);
  Streamed s;
  auto take = [&](const TextDelta& d) {
    if (find_invalid_utf8(d.text) != d.text.size() || find_invalid_utf8(d.reasoning_text) != d.reasoning_text.size())
      fuzz::finding("a delta is not valid UTF-8");
    if (s.stopped && (!d.text.empty() || !d.reasoning_text.empty())) fuzz::finding("text after a stop string");
    s.text += d.text;
    s.reasoning += d.reasoning_text;
    s.stopped = s.stopped || d.stopped;
  };
  for (const int32_t id : ids) take(out.push(id));
  take(out.finish());
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tokenizer = fuzz::qwen3_tokenizer();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = std::min(input.find('\n'), input.size());
  std::vector<std::string> stops;
  for (size_t b = 0; b < newline;) {
    const size_t e = std::min(input.find('|', b), newline);
    if (e > b) stops.emplace_back(input.substr(b, e - b));
    b = e + 1;
  }
  const std::optional<ThinkTokens> think = find_think_tokens(tokenizer);
  std::vector<int32_t> ids;
  for (size_t i = newline + 1; i + 3 <= size; i += 3) {
    const uint32_t v = data[i] | data[i + 1] << 8 | data[i + 2] << 16;
    ids.push_back(v % 16 == 0 ? think->start : v % 16 == 1 ? think->end : static_cast<int32_t>(v % tokenizer.vocab_size()));
  }
  std::string whole;
  try {
    whole = tokenizer.decode(ids, /*skip_special_tokens=*/true);
  } catch (const StatusError&) {
    return 0;  // an unused id inside the vocabulary range
  }
  const Streamed plain = stream(tokenizer, {}, ids);
  if (plain.text != whole || !plain.reasoning.empty()) fuzz::finding("the plain stream differs from decode()");

  OutputTextOptions with_stops;
  with_stops.stop = stops;
  fuzz::refusing_with_status_errors([&] {  // invalid UTF-8 in a stop string is refused
    const Streamed cut = stream(tokenizer, with_stops, ids);
    if (whole.compare(0, cut.text.size(), cut.text) != 0) fuzz::finding("the stopped text is not a prefix");
    bool any = false, at_end = false;
    for (const std::string& stop : stops) {
      any = any || whole.find(stop) != std::string::npos;
      at_end = at_end || whole.compare(cut.text.size(), stop.size(), stop) == 0;
      if (cut.text.find(stop) != std::string::npos) fuzz::finding("a stop string was shown");
    }
    if (cut.stopped != any) fuzz::finding("stopped ", cut.stopped, " but the decode holds a stop string: ", any);
    if (cut.stopped && !at_end) fuzz::finding("the text does not end where a stop string begins");
  });

  for (const bool opened : {false, true}) {
    OutputTextOptions split;
    split.split_reasoning = true;
    split.starts_in_reasoning = opened;
    split.stop = stops;
    fuzz::refusing_with_status_errors([&] { stream(tokenizer, split, ids); });
  }
  return 0;
}

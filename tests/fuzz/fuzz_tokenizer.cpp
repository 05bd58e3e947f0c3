// Fuzz target: the Qwen3 tokenizer on arbitrary bytes, both ways. As text: encode() refuses invalid UTF-8 with a
// StatusError; otherwise token offsets must lie in the text, in order, and text already in NFC must decode back
// to itself. As ids (every 3 bytes, modulo the vocabulary): decode() and the streaming IncrementalDecoder must
// agree, with and without special tokens.
#include "fuzz_qwen3.h"
#include "fuzz_util.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer.h"

using namespace stepwise;

namespace {

void check_text(const Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> ids;
  std::vector<TokenOffsets> offsets;
  tokenizer.encode(text, &ids, &offsets);
  if (offsets.size() != ids.size()) fuzz::finding("encode gave ", ids.size(), " ids and ", offsets.size(), " offsets");
  size_t prev_begin = 0;
  for (const TokenOffsets& o : offsets) {
    if (o.begin > o.end || o.end > text.size() || o.begin < prev_begin)
      fuzz::finding("token offsets [", o.begin, ", ", o.end, ") out of order or outside ", text.size(), " bytes");
    prev_begin = o.begin;
  }
  NormalizedText nfc;
  nfc_normalize(text, &nfc);
  if (nfc.text == text && tokenizer.decode(ids) != text) fuzz::finding("NFC text does not decode back to itself");
}

void check_ids(const Tokenizer& tokenizer, const uint8_t* data, size_t size) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 3 <= size; i += 3)
    ids.push_back(static_cast<int32_t>((data[i] | data[i + 1] << 8 | data[i + 2] << 16) % tokenizer.vocab_size()));
  for (const bool skip_special : {false, true}) {
    std::string whole;
    try {
      whole = tokenizer.decode(ids, skip_special);
    } catch (const StatusError&) {
      return;  // an unused id inside the vocabulary range
    }
    IncrementalDecoder stream(tokenizer, skip_special);
    std::string streamed;
    for (const int32_t id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    if (streamed != whole)
      fuzz::finding("IncrementalDecoder and decode differ (skip_special_tokens ", skip_special, ")");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tokenizer = fuzz::qwen3_tokenizer();
  fuzz::refusing_with_status_errors([&] { check_text(tokenizer, fuzz::as_string(data, size)); });
  check_ids(tokenizer, data, size);
  return 0;
}

// Fuzz target: one line of an SFT dataset, as `stepwise data prepare` reads it (JSON, then parse_sft_record, then
// the Qwen3 chat template). A record is refused with BadRecord (its documented way) or StatusError; an accepted one
// must encode to as many loss-mask entries as tokens, with at least one token to train on.
#include <algorithm>

#include "fuzz_qwen3.h"
#include "fuzz_util.h"
#include "train/data_prep.h"
#include "train/sft_records.h"

using namespace stepwise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ChatEncoder encode = qwen3_chat_encoder(fuzz::qwen3_chat_template());
  const nlohmann::ordered_json record =
      nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return 0;
  fuzz::refusing_with_status_errors([&] {
    try {
      const SftExample example = parse_sft_record(record);
      const EncodedExample encoded = encode(example.messages);
      if (encoded.loss_mask.size() != encoded.tokens.size()) fuzz::finding("loss mask and tokens differ in length");
      if (std::count(encoded.loss_mask.begin(), encoded.loss_mask.end(), 1) == 0)
        fuzz::finding("an accepted ", example.format, " record has no token to train on");
    } catch (const BadRecord&) {
    }
  });
  return 0;
}

// Fuzz target: a whole JSONL (or .json array) input file through prepare_sft_data with the Qwen3 chat template,
// in shards of at most 64 tokens. A preparation that succeeds must leave a token dataset that opens and holds
// exactly the examples and tokens its summary counts.
#include "fuzz_qwen3.h"
#include "fuzz_util.h"
#include "io/token_shards.h"
#include "train/data_prep.h"

using namespace stepwise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ChatEncoder encode = qwen3_chat_encoder(fuzz::qwen3_chat_template());
  static const fuzz::ScratchDir scratch;
  const std::string input = scratch.write("records.jsonl", data, size);
  const std::string output = scratch.path() + "/dataset";
  DataPrepOptions options;
  options.shard_tokens = 64;
  options.progress = false;
  fuzz::refusing_with_status_errors([&] {
    const DataPrepSummary summary = prepare_sft_data({input}, output, encode, options);
    int64_t documents = 0, tokens = 0;
    for (const auto& shard : open_token_dataset(output)) {
      documents += shard->num_documents();
      tokens += shard->num_tokens();
    }
    if (documents != summary.examples || tokens != summary.tokens)
      fuzz::finding("the dataset holds ", documents, " documents and ", tokens, " tokens; the summary says ",
                    summary.examples, " and ", summary.tokens);
  });
  return 0;
}

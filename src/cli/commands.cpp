// The table of subcommands.
#include "cli/commands.h"

namespace stepwise::cli {

const Command kCommands[] = {
    {"score", "log-probabilities and argmax of token sequences under a model", cmd_score},
    {"generate", "continue a prompt with a model (greedy or sampled)", cmd_generate},
    {"bench", "benchmarks against baselines measured in the same run (cpu-train)", cmd_bench},
    {"tokenize", "text or a chat to token ids, or ids back to text (Hugging Face tokenizer.json)", cmd_tokenize},
    {"data", "SFT data: JSONL / JSON records -> packed-ready token shards (data prepare)", cmd_data},
    {"train", "supervised fine-tuning from a YAML config, with checkpoints and exact resume", cmd_train},
    {"export", "a training checkpoint -> a Hugging Face folder (config.json + model.safetensors)", cmd_export},
    {"demo", "train two small models on arithmetic with and without worked steps; compare accuracy", cmd_demo},
};
const int kNumCommands = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace stepwise::cli

// The table of subcommands.
#include "cli/commands.h"

namespace stepwise::cli {

const Command kCommands[] = {
    {"score", "log-probabilities and argmax of token sequences under a model", cmd_score},
    {"generate", "continue a prompt with a model (greedy or sampled)", cmd_generate},
    {"bench", "benchmarks against baselines measured in the same run (cpu-train)", cmd_bench},
    {"tokenize", "text or a chat to token ids, or ids back to text (Hugging Face tokenizer.json)", cmd_tokenize},
};
const int kNumCommands = sizeof(kCommands) / sizeof(kCommands[0]);

}  // namespace stepwise::cli

// Sampling and engine flags, with their ranges in the help (checked again by SamplingParams::validate and the
// engine, which name the fields for API callers).
#include "cli/serving_flags.h"

#include "cli/flags.h"

namespace stepwise::cli {

void add_sampling_flags(CLI::App& command, SamplingParams& s) {
  at_least(command.add_option("--temperature", s.temperature, "softmax temperature; 0: greedy")->type_name("T"), 0);
  at_least(command.add_option("--top-k", s.top_k, "sample among the K most likely tokens; 0: all")->type_name("K"), 0);
  in_range(command.add_option("--top-p", s.top_p,
                              "sample among the most likely tokens whose probabilities add up to P (nucleus); 1: all")
               ->type_name("P"),
           0, 1, /*min_excluded=*/true);
  in_range(command.add_option("--min-p", s.min_p, "drop tokens less likely than P times the most likely one; 0: none")
               ->type_name("P"),
           0, 1);
  in_range(command.add_option("--repetition-penalty", s.repetition_penalty,
                              "divide the logits of tokens already in the prompt or output (HF convention); 1: none")
               ->type_name("R"),
           0, 1e9, /*min_excluded=*/true);
  in_range(command.add_option("--presence-penalty", s.presence_penalty,
                              "subtract from the logit of each token already generated")
               ->type_name("X"),
           -2, 2);
  in_range(command.add_option("--frequency-penalty", s.frequency_penalty,
                              "subtract per earlier occurrence in the output")
               ->type_name("X"),
           -2, 2);
  command.add_option("--seed", s.seed, "the sampler's random seed (sample i of --samples draws from seed + i)")
      ->type_name("S");
  in_range(command.add_option("--logprobs", s.logprobs, "report the N most likely tokens with each chosen one")
               ->type_name("N"),
           0, static_cast<double>(kMaxLogprobs));
}

void add_accumulation_flag(CLI::App& command, kernels::CpuAccumulation& accumulation) {
  one_of(command
             .add_option_function<std::string>(
                 "--accumulation",
                 [&accumulation](const std::string& v) {
                   accumulation = v == "float32" ? kernels::CpuAccumulation::kFloat32
                                                 : kernels::CpuAccumulation::kFloat64;
                 },
                 "CPU matmul and attention sums: float64 (the reference: the same tokens whatever the threads and "
                 "CPU) or float32 (faster)")
             ->type_name("A")
             ->default_str("float64"),
         {"float64", "float32"});
}

void add_engine_flags(CLI::App& command, EngineOptions& o) {
  at_least(command.add_option("--kv-cache-mb", o.kv_cache_mb,
                              "the paged KV cache's size; 0: 90% of free GPU memory, or 512 MB on the CPU")
               ->type_name("MB"),
           0);
  in_range(command.add_option("--block-size", o.block_size, "tokens per KV cache block")->type_name("N"), 1, 1024);
  at_least(command.add_option("--max-tokens-per-step", o.max_tokens_per_step,
                              "the token budget of one engine step (decoding tokens plus prompt chunks)")
               ->type_name("N"),
           1);
  at_least(command.add_option("--max-sequences", o.max_sequences, "sequences running at once, at most")
               ->type_name("N"),
           1);
  at_least(command.add_option("--max-prefill-chunk", o.max_prefill_chunk,
                              "prompt tokens of one sequence per step, at most; 0: the step's budget")
               ->type_name("N"),
           0);
}

}  // namespace stepwise::cli

// `stepwise generate`: continue a prompt of token ids (greedy by default, or sampled with a seed) and print the
// new ids as a JSON array. `--tp N` under `mpirun -np N` splits the model over N ranks; every rank samples the same
// token from the gathered logits, and only rank 0 prints.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "infer/generate.h"
#include "model/hf_model.h"

namespace stepwise::cli {

namespace {

int generate_ids(const std::string& model_dir, GenerateRequest req, bool ignore_eos, int tp) {
  const ProcessGrid grid = make_process_grid(tp, Device::kCPU, /*dp_size=*/1);
  ModelOptions options;
  options.tp = grid.tp.get();
  auto model = load_hf_model(model_dir, options);
  const int64_t vocab = model->config().vocab_size;
  for (int32_t id : req.prompt)
    if (id >= vocab) invalid_argument("--prompt-ids: token id ", id, " >= the model's vocab size ", vocab);
  if (!ignore_eos && model->config().eos_token_id >= 0)
    req.stop_tokens.push_back(static_cast<int32_t>(model->config().eos_token_id));

  const std::vector<int32_t> out = generate(*model, req);
  if (!grid.is_root()) return 0;
  std::printf("[");
  for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? ", " : "", out[i]);
  std::printf("]\n");
  return 0;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  Args args(argc, argv, {"ignore-eos"});
  const std::string model_dir = args.require("model");
  GenerateRequest req;
  req.prompt = parse_id_list("prompt-ids", args.require("prompt-ids"));
  req.max_new_tokens = args.get_int("max-new-tokens", 32);
  req.sampling.temperature = static_cast<float>(args.get_double("temperature", 0.0));
  req.sampling.top_k = args.get_int("top-k", 0);
  req.sampling.top_p = static_cast<float>(args.get_double("top-p", 1.0));
  req.sampling.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  const bool ignore_eos = args.flag("ignore-eos");
  const int tp = static_cast<int>(args.get_int("tp", 1));
  args.finish();
  req.sampling.validate();
  return run_with_mpi_if_needed(tp > 1, [&] { return generate_ids(model_dir, req, ignore_eos, tp); });
}

}  // namespace stepwise::cli

#!/usr/bin/env python3
"""What `stepwise score` prints, computed independently: a Hugging Face folder (config.json + model.safetensors or a
sharded model.safetensors.index.json, F32/BF16/F16) read with numpy, the forward pass of bench/torch_qwen3.py in float64.

usage: torch_score.py MODEL_DIR TOKENS.jsonl
For each line of TOKENS.jsonl (a JSON array of token ids), prints one JSON line: {"logprobs": [...], "argmax":
[...], "margins": [...]}: log p(token t+1 | tokens <= t), the most likely token after t, and its lead over the
second most likely (in logits), for every position t but the last.
"""
import json, os, struct, sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from torch_qwen3 import Qwen3  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        raw = data[begin:end]
        if t["dtype"] == "F32":
            a = np.frombuffer(raw, np.float32)
        elif t["dtype"] == "F16":
            a = np.frombuffer(raw, np.float16)
        elif t["dtype"] == "BF16":  # the top half of a float32
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"{path}: tensor {name} has dtype {t['dtype']}; expected F32, F16 or BF16")
        tensors[name] = torch.from_numpy(a.astype(np.float64).reshape(t["shape"]))
    return tensors


def read_model(model_dir):
    """The weights of a Hugging Face folder as transformers finds them: model.safetensors, or the shards that
    model.safetensors.index.json's weight_map names (each tensor from the shard the map gives)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index):
        return read_safetensors(os.path.join(model_dir, "model.safetensors"))
    weight_map = json.load(open(index))["weight_map"]
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        for name, t in read_safetensors(os.path.join(model_dir, shard)).items():
            if weight_map.get(name) == shard:
                tensors[name] = t
    return tensors


def hf_name(module_name):
    """bench/torch_qwen3.py's parameter names -> Hugging Face's."""
    parts = module_name.split(".")
    if parts[0] == "embed":
        return "model.embed_tokens.weight"
    if parts[0] == "norm":
        return "model.norm.weight"
    if parts[0] == "lm_head":
        return "lm_head.weight"
    layer, what = parts[1], parts[2]
    names = {"ln1": "input_layernorm", "ln2": "post_attention_layernorm", "qn": "self_attn.q_norm",
             "kn": "self_attn.k_norm", "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
             "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
    return f"model.layers.{layer}.{names[what]}.weight"


def main():
    model_dir, tokens_path = sys.argv[1], sys.argv[2]
    lines = [json.loads(l) for l in open(tokens_path) if l.strip()]
    config = json.load(open(os.path.join(model_dir, "config.json")))
    # RoPE angles depend on the position only: a table as long as the longest line gives the same values.
    config["max_position_embeddings"] = max(len(ids) for ids in lines)
    model = Qwen3(config).double()
    # The RoPE table as transformers computes it: inverse frequencies rounded to the checkpoint's dtype (the
    # rotary buffer is created in it), angles in float32.
    hd, n = config["head_dim"], config["max_position_embeddings"]
    theta = config.get("rope_theta") or config["rope_parameters"]["rope_theta"]
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(config.get("dtype", config.get("torch_dtype")))
    inv_freq = 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd)
    if dtype is not None:
        inv_freq = inv_freq.to(dtype).float()
    angles = torch.arange(n).float()[:, None] * inv_freq[None]
    model.cos = torch.cat([angles, angles], -1).cos().double()
    model.sin = torch.cat([angles, angles], -1).sin().double()
    weights = read_model(model_dir)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(weights[hf_name(name)])
        for ids in lines:
            logits = model.logits(torch.tensor([ids]))[0]
            logprobs = torch.log_softmax(logits, -1)
            top2 = torch.topk(logits, 2, -1).values
            print(json.dumps({"logprobs": [logprobs[t, ids[t + 1]].item() for t in range(len(ids) - 1)],
                              "argmax": [int(logits[t].argmax()) for t in range(len(ids) - 1)],
                              "margins": [(top2[t, 0] - top2[t, 1]).item() for t in range(len(ids) - 1)]}))


if __name__ == "__main__":
    main()

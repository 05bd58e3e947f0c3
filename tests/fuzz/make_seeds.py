#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/seed-*) from the repository's own
configs and test data and a few hand-written cases; tests/fuzz/corpus/README.md says where each comes from.
Re-run after changing a seed here; inputs that once failed (regression-*) are added by hand and kept."""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/fuzz/corpus"


def put(target, name, data):
    path = CORPUS / target / f"seed-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] -> the bytes of a .safetensors file."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_header():
    put("fuzz_safetensors_header", "f32-bf16", safetensors(
        [("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "BF16", [3], struct.pack("<3H", 0x3F80, 0x4000, 0xC040))],
        {"format": "pt"}))
    put("fuzz_safetensors_header", "f64-f16-i64", safetensors(
        [("x", "F64", [2], struct.pack("<2d", 0.5, -1e300)), ("h", "F16", [1, 2], struct.pack("<2H", 0x3C00, 0x7E00)),
         ("ids", "I64", [3], struct.pack("<3q", 1, -2, 1 << 40))]))
    put("fuzz_safetensors_header", "empty-and-scalar", safetensors(
        [("e", "F32", [0, 4], b""), ("s", "F32", [], struct.pack("<f", 7)), ("u", "U8", [2], b"\x01\x02"),
         ("i", "I32", [1], struct.pack("<i", -5))]))


def safetensors_index():
    # The model folder fuzz_safetensors_index.cpp lays out: a, b in shard 1, c in shard 2, link.safetensors -> outside.
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
              "c": "model-00002-of-00002.safetensors"}
    put("fuzz_safetensors_index", "valid", json.dumps({"metadata": {"total_size": 24}, "weight_map": shards}))
    put("fuzz_safetensors_index", "parent-dir", json.dumps({"weight_map": {**shards, "outside": "../outside.safetensors"}}))
    put("fuzz_safetensors_index", "symlink-out", json.dumps({"weight_map": {"outside": "link.safetensors"}}))
    put("fuzz_safetensors_index", "absolute", json.dumps({"weight_map": {"a": "/etc/passwd"}}))


def hf_config():
    for path in ["configs/models/qwen3-tiny.json", "configs/models/qwen3-0.6b.json",
                 "tests/data/fixtures/qwen3-tiny-b/config.json", "configs/sft/models/qwen3-micro/config.json"]:
        put("fuzz_hf_config", path.replace("/", "_"), (ROOT / path).read_bytes())


def train_config():
    for path in ["configs/sft/tiny-gsm8k.yaml", "configs/sft/qwen3-0.6b-math.yaml"]:
        put("fuzz_train_config", path.replace("/", "_"), (ROOT / path).read_bytes())
    text = (ROOT / "configs/sft/tiny-gsm8k.yaml").read_bytes()
    put("fuzz_train_config", "with-overrides", text + b"\0optimizer.lr=3e-4\nrun.tp=2\nbatch.row_length=[1, 2]")


def sft_records():
    gsm8k = (ROOT / "tests/data/reasoning/gsm8k_train_200.jsonl").read_text().splitlines()[0]
    distill = json.loads((ROOT / "tests/data/reasoning/distill_samples_deepseek_r1.json").read_text())[0]
    distill = {k: v[:300] for k, v in distill.items()}
    chat = json.loads((ROOT / "tests/data/qwen3-tokenizer/chat_jinja_oracle.json").read_text())["cases"][0]["messages"]
    records = {
        "gsm8k": gsm8k,
        "distill": json.dumps(distill),
        "chat-tools": json.dumps({"messages": chat}),
        "prompt-completion": json.dumps({"prompt": "2+2?", "completion": "<think>\nadd\n</think>\n\n4"}),
        "prompt-completion-lists": json.dumps({"prompt": [{"role": "user", "content": "hi"}],
                                               "completion": [{"role": "assistant", "content": "hello"}]}),
    }
    for name, line in records.items():
        put("fuzz_sft_record", name, line)
    put("fuzz_data_prep", "mixed.jsonl", "\n".join([records["gsm8k"], "", "{not json", records["prompt-completion"],
                                                     json.dumps({"question": "q"}), records["chat-tools"]]) + "\n")
    put("fuzz_data_prep", "array.json", json.dumps([json.loads(records["distill"]), {"prompt": "a", "completion": "b"}]))


def tokenizer():
    texts = {
        "ascii": "Hello world! It's 2024; x = y**2 + 3.14159\n\tindented   spaces",
        "cjk-emoji": "你好，世界 🌍🚀 こんにちは 안녕하세요",
        "combining": "e\u0301 A\u030a \u1100\u1161\u11a8 >\u0338 \ufb01",
        "specials": "<|im_start|>user\nhi<|im_end|>\n<think>\n</think>\n<|endoftext|>",
    }
    for name, text in texts.items():
        put("fuzz_tokenizer", name, text)
    put("fuzz_tokenizer", "invalid-utf8", b"ok \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98")


def chat_template():
    cases = json.loads((ROOT / "tests/data/qwen3-tokenizer/chat_jinja_oracle.json").read_text())["cases"]
    for i, case in enumerate(cases[:4]):
        flags = (1 if case.get("add_generation_prompt") else 0) | (2 if case.get("enable_thinking", True) else 0)
        body = {"messages": case["messages"], "tools": case.get("tools")} if case.get("tools") else case["messages"]
        put("fuzz_chat_template", f"oracle-case-{i}", bytes([flags]) + json.dumps(body).encode())


def output_text():
    # Stop strings on the first line ('|' between them), then token ids in 3 little-endian bytes each.
    cases = json.loads((ROOT / "tests/data/qwen3-tokenizer/chat_jinja_oracle.json").read_text())["cases"]
    for i, case in enumerate(cases[:3]):
        ids = b"".join(t.to_bytes(3, "little") for t in case["ids"])
        put("fuzz_output_text", f"oracle-case-{i}", b"the|\n\n|>\n" + ids)
    put("fuzz_output_text", "no-stops", b"\n" + b"".join(t.to_bytes(3, "little") for t in cases[5]["ids"]))


def answer_grader():
    # A completion, a NUL byte, then the reference: from both MATH-500 answer files, and hand-written structures.
    for name in ("gpt", "qwen3"):
        items = json.loads((ROOT / f"tests/data/reasoning/math500_{name}_answers.json").read_text())
        for i in (0, 30, 99, 380):
            put("fuzz_answer_grader", f"math500-{name}-{i}", items[i]["prediction"] + "\0" + items[i]["answer"])
    put("fuzz_answer_grader", "think-hashes", "<think>\\boxed{1}</think> so #### 1,234\0" + "1234")
    put("fuzz_answer_grader", "set-union-pm", "\\boxed{\\{1\\pm\\sqrt{5}, -2\\}}\0(0,9]\\cup[9,\\infty)")


if __name__ == "__main__":
    safetensors_header()
    safetensors_index()
    hf_config()
    train_config()
    sft_records()
    tokenizer()
    chat_template()
    output_text()
    answer_grader()

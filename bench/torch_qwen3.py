#!/usr/bin/env python3
"""Qwen3 forward+backward in plain PyTorch (eager, CPU) on the same shapes as `stepwise bench cpu-train`:
the baseline the benchmark reports its ratio against. An independent implementation (Hugging Face's layout:
split-half RoPE, per-head q/k RMSNorm, GQA, SwiGLU, tied or untied LM head), random weights. The Qwen3 class
is also the independent reference of tests/train/torch_score.py.

usage: torch_qwen3.py CONFIG_JSON --batch B --seq T --steps N --warmup W --threads P
Prints one JSON line: {"tokens_per_s": ..., "step_s": [...], "loss": ...}.
"""
import argparse, json, time
import torch
import torch.nn.functional as F


class Qwen3(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, hd, h, kv, ff, v = (c["hidden_size"], c["head_dim"], c["num_attention_heads"], c["num_key_value_heads"],
                               c["intermediate_size"], c["vocab_size"])
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.embed = torch.nn.Embedding(v, d)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            m = torch.nn.Module()
            m.ln1, m.ln2 = torch.nn.Parameter(torch.ones(d)), torch.nn.Parameter(torch.ones(d))
            m.qn, m.kn = torch.nn.Parameter(torch.ones(hd)), torch.nn.Parameter(torch.ones(hd))
            m.q, m.k, m.v, m.o = lin(d, h * hd), lin(d, kv * hd), lin(d, kv * hd), lin(h * hd, d)
            m.gate, m.up, m.down = lin(d, ff), lin(d, ff), lin(ff, d)
            self.layers.append(m)
        self.norm = torch.nn.Parameter(torch.ones(d))
        self.lm_head = None if c.get("tie_word_embeddings") else lin(d, v)
        theta = c.get("rope_theta") or c["rope_parameters"]["rope_theta"]
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(c["max_position_embeddings"]).float()[:, None] * inv[None]
        emb = torch.cat([ang, ang], -1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        n = c["max_position_embeddings"]
        self.register_buffer("mask", torch.full((n, n), float("-inf")).triu(1), persistent=False)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"]) * w

    def rope(self, x, T):  # x: B, H, T, hd
        cos, sin = self.cos[:T], self.sin[:T]
        x1, x2 = x.chunk(2, -1)
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def logits(self, ids):
        c = self.c
        B, T = ids.shape
        h, kv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        x = self.embed(ids)
        for m in self.layers:
            y = self.rms(x, m.ln1)
            q = self.rms(m.q(y).view(B, T, h, hd), m.qn).transpose(1, 2)
            k = self.rms(m.k(y).view(B, T, kv, hd), m.kn).transpose(1, 2)
            v = m.v(y).view(B, T, kv, hd).transpose(1, 2)
            q, k = self.rope(q, T), self.rope(k, T)
            k, v = k.repeat_interleave(h // kv, 1), v.repeat_interleave(h // kv, 1)
            s = (q @ k.transpose(-1, -2)) * hd ** -0.5 + self.mask[:T, :T]  # torch 1.13 has no fused SDPA
            a = torch.softmax(s, -1) @ v
            x = x + m.o(a.transpose(1, 2).reshape(B, T, h * hd))
            y = self.rms(x, m.ln2)
            x = x + m.down(F.silu(m.gate(y)) * m.up(y))
        x = self.rms(x, self.norm)
        return x @ self.embed.weight.t() if self.lm_head is None else self.lm_head(x)

    def forward(self, ids, targets):
        logits = self.logits(ids)
        return F.cross_entropy(logits.view(targets.numel(), -1), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = json.load(open(a.config))
    model = Qwen3(c)
    for p in model.parameters():
        if p.dim() >= 2:
            torch.nn.init.normal_(p, std=0.02)
    ids = torch.randint(0, c["vocab_size"], (a.batch, a.seq + 1))
    x, y = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    times, loss = [], None
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        loss = model(x, y)
        loss.backward()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"tokens_per_s": a.batch * a.seq / med, "step_s": times, "loss": loss.item(),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

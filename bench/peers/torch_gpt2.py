"""PyTorch peer: a LoRA step on a GPT-2 checkpoint, on the CPU, without the transformers package.

Reads the checkpoint folder the bench wrote (config.json, model.safetensors in the Hugging Face layout:
Conv1D weights [in, out], lm_head tied to wte) and the start file (batch ids x and labels [B, T], LoRA A [r, in]
and B [out, r] of every transformer.h.N.attn.c_attn, LoRA scale in the metadata), builds GPT-2's forward
(learned positions, pre-norm blocks, causal attention, gelu_new, tied output projection) and trains the LoRA
tensors with Adam (beta 0.9 / 0.999, eps 1e-8, no weight decay) on the mean token cross-entropy.

Usage: python3 torch_gpt2.py JSON; JSON: {checkpoint, start, warmup, steps, threads, lr}.
Prints one JSON line: {backend, stepMsMedian, stepMsAll, tokensPerSecond, losses, params, rssLoadedBytes,
rssPeakBytes, torch, threads, blas}.
"""

import json
import math
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F

from torch_blas import blas_info


def read_safetensors(path):
    """{name: float32 tensor} and the metadata of a safetensors file (F32 only: what the bench writes)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    header = json.loads(bytes(data[8 : 8 + n]))
    meta = header.pop("__metadata__", {})
    body = memoryview(data)[8 + n :]
    out = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {t['dtype']}; this peer reads F32 only")
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(body[a:b], dtype=torch.float32).reshape(t["shape"])
    return out, meta


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loss_of(cfg, w, lora, scale, x, labels):
    B, T = x.shape
    d, H = cfg["n_embd"], cfg["n_head"]
    dh = d // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    ids = x.long()
    h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"

        def norm(name, v):
            return F.layer_norm(v, (d,), w[f"{p}.{name}.weight"], w[f"{p}.{name}.bias"], eps)

        def conv1d(name, v):
            return torch.addmm(w[f"{p}.{name}.bias"], v.reshape(-1, v.shape[-1]), w[f"{p}.{name}.weight"]).reshape(
                *v.shape[:-1], -1
            )

        a = norm("ln_1", h)
        A, Bm = lora[f"{p}.attn.c_attn.lora_A.weight"], lora[f"{p}.attn.c_attn.lora_B.weight"]
        qkv = conv1d("attn.c_attn", a) + scale * ((a @ A.T) @ Bm.T)
        q, k, v = (t.reshape(B, T, H, dh).transpose(1, 2) for t in qkv.split(d, dim=-1))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        s = s.masked_fill(~mask, float("-inf"))
        att = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
        h = h + conv1d("attn.c_proj", att)
        m = norm("ln_2", h)
        h = h + conv1d("mlp.c_proj", F.gelu(conv1d("mlp.c_fc", m), approximate="tanh"))
    out = F.layer_norm(h, (d,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    logits = out.reshape(B * T, d) @ w["transformer.wte.weight"].T
    return F.cross_entropy(logits, labels.reshape(-1).long())


def main():
    opts = json.loads(sys.argv[1])
    threads = opts.get("threads", 2)
    torch.set_num_threads(threads)
    with open(f"{opts['checkpoint']}/config.json") as f:
        cfg = json.load(f)
    weights, _ = read_safetensors(f"{opts['checkpoint']}/model.safetensors")
    start, meta = read_safetensors(opts["start"])
    x, labels = start.pop("x"), start.pop("labels")
    lora = {k: v.clone().requires_grad_(True) for k, v in start.items()}
    scale = float(meta.get("scale", "1"))
    optimizer = torch.optim.Adam(list(lora.values()), lr=opts["lr"], betas=(0.9, 0.999), eps=1e-8)
    rss_loaded = rss_bytes()
    warmup, steps = opts.get("warmup", 2), opts.get("steps", 5)
    losses, times = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(cfg, weights, lora, scale, x, labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        ms = (time.perf_counter() - t0) * 1000
        if not math.isfinite(value):
            raise SystemExit(f"torch_gpt2.py: step {i + 1} gave a non-finite loss {value}")
        losses.append(value)
        if i >= warmup:
            times.append(ms)
    med = statistics.median(times)
    print(json.dumps({
        "backend": "torch-cpu",
        "stepMsMedian": med,
        "stepMsAll": times,
        "tokensPerSecond": x.numel() / (med / 1000),
        "losses": losses,
        "params": {
            "total": sum(t.numel() for t in weights.values()) + sum(t.numel() for t in lora.values()),
            "trainable": sum(t.numel() for t in lora.values()),
        },
        "rssLoadedBytes": rss_loaded,
        # ru_maxrss is in KiB on Linux
        "rssPeakBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
        "threads": threads,
        "blas": blas_info(),
    }))


if __name__ == "__main__":
    main()

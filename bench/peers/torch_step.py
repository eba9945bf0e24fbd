"""PyTorch peer: the benchmark's LoRA ViT-tiny training step on the CPU.

Mirrors bench/peers/workload.ts (same tensor list, same xorshift32 + Box-Muller draws, same batch) and
bench/peers/tfjs_step.ts (same forward and loss), so the losses of both peers can be compared step by step.

Usage: python3 torch_step.py [JSON options]; options (all optional): warmup, steps, seed, threads, workload.
Prints one JSON line:
{backend, stepMsMedian, stepMsAll, steps, params: {total, trainable}, losses, torch, threads, blas}; blas is
torch_blas.blas_info(): the BLAS library torch's sgemm resolved to, its version and threads.
"""

import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from torch_blas import blas_info

WORKLOAD = {
    "image": 28, "patch": 7, "dim": 64, "depth": 4, "heads": 4, "mlpRatio": 4, "embedDim": 64,
    "classes": 10, "rank": 8, "batch": 64, "lr": 1e-3, "cosfaceS": 64, "cosfaceM": 0.4, "initStd": 0.02,
}


class SeededRng:
    """32-bit xorshift, the same three shifts as SeededRng in workload.ts."""

    def __init__(self, seed):
        self.state = (seed & 0xFFFFFFFF) or 1

    def uniform(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return (x + 0.5) / 4294967296

    def normal(self):
        u1 = self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def param_specs(w):
    """(name, shape, init, std, trainable) in the order of paramSpecs() in workload.ts."""
    d, hidden = w["dim"], w["dim"] * w["mlpRatio"]
    tokens = (w["image"] // w["patch"]) ** 2
    out = []

    def linear(path, n_in, n_out):
        out.append((f"{path}.weight", [n_out, n_in], "normal", w["initStd"], False))
        out.append((f"{path}.bias", [n_out], "zeros", 0, False))

    linear("patch_embed", w["patch"] ** 2, d)
    out.append(("pos_embed", [tokens, d], "normal", w["initStd"], False))
    for i in range(w["depth"]):
        out.append((f"blocks.{i}.ln1.weight", [d], "ones", 0, False))
        out.append((f"blocks.{i}.ln1.bias", [d], "zeros", 0, False))
        linear(f"blocks.{i}.attn.qkv", d, 3 * d)
        linear(f"blocks.{i}.attn.proj", d, d)
        out.append((f"blocks.{i}.ln2.weight", [d], "ones", 0, False))
        out.append((f"blocks.{i}.ln2.bias", [d], "zeros", 0, False))
        linear(f"blocks.{i}.mlp.fc1", d, hidden)
        linear(f"blocks.{i}.mlp.fc2", hidden, d)
    out.append(("norm.weight", [d], "ones", 0, False))
    out.append(("norm.bias", [d], "zeros", 0, False))
    linear("feature", d, w["embedDim"])
    out.append(("head.weight", [w["classes"], w["embedDim"]], "normal", w["initStd"], True))
    for i in range(w["depth"]):
        out.append((f"blocks.{i}.attn.qkv.lora_A", [w["rank"], d], "normal", 1 / math.sqrt(w["rank"]), True))
        out.append((f"blocks.{i}.attn.qkv.lora_B", [3 * d, w["rank"]], "zeros", 0, True))
    return out


def make_init(seed, w):
    rng = SeededRng(seed)
    params = {}
    for name, shape, init, std, trainable in param_specs(w):
        n = math.prod(shape)
        if init == "normal":
            values = torch.tensor([std * rng.normal() for _ in range(n)], dtype=torch.float32)
        else:
            values = torch.full((n,), 1.0 if init == "ones" else 0.0)
        params[name] = values.reshape(shape).requires_grad_(trainable)
    images = torch.tensor([rng.uniform() for _ in range(w["batch"] * w["image"] ** 2)], dtype=torch.float32)
    labels = torch.tensor([math.floor(rng.uniform() * w["classes"]) for _ in range(w["batch"])])
    return params, images.reshape(w["batch"], -1), labels


def linear(p, path, x):
    return F.linear(x, p[f"{path}.weight"], p[f"{path}.bias"])


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def loss_of(w, p, images, labels):
    b, d, heads, ps = w["batch"], w["dim"], w["heads"], w["patch"]
    g = w["image"] // ps
    tokens, dh = g * g, d // heads
    patches = images.reshape(b, g, ps, g, ps).permute(0, 1, 3, 2, 4).reshape(b, tokens, ps * ps)
    h = linear(p, "patch_embed", patches) + p["pos_embed"]
    for i in range(w["depth"]):
        a = F.layer_norm(h, (d,), p[f"blocks.{i}.ln1.weight"], p[f"blocks.{i}.ln1.bias"], 1e-5)
        path = f"blocks.{i}.attn.qkv"
        qkv = linear(p, path, a) + (a @ p[f"{path}.lora_A"].T) @ p[f"{path}.lora_B"].T
        q, k, v = (t.reshape(b, tokens, heads, dh).transpose(1, 2) for t in qkv.split(d, dim=-1))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1) @ v
        h = h + linear(p, f"blocks.{i}.attn.proj", att.transpose(1, 2).reshape(b, tokens, d))
        m = F.layer_norm(h, (d,), p[f"blocks.{i}.ln2.weight"], p[f"blocks.{i}.ln2.bias"], 1e-5)
        h = h + linear(p, f"blocks.{i}.mlp.fc2", gelu_tanh(linear(p, f"blocks.{i}.mlp.fc1", m)))
    pooled = F.layer_norm(h, (d,), p["norm.weight"], p["norm.bias"], 1e-5).mean(dim=1)
    emb = linear(p, "feature", pooled)

    def l2rows(x):
        return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-12)

    cos = l2rows(emb) @ l2rows(p["head.weight"]).T
    onehot = F.one_hot(labels, w["classes"]).float()
    logits = w["cosfaceS"] * (cos - w["cosfaceM"] * onehot)
    return -(F.log_softmax(logits, dim=-1) * onehot).sum(-1).mean()


def main():
    opts = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    w = {**WORKLOAD, **opts.get("workload", {})}
    warmup, steps, threads = opts.get("warmup", 3), opts.get("steps", 10), opts.get("threads", 2)
    torch.set_num_threads(threads)
    params, images, labels = make_init(opts.get("seed", 1), w)
    trainable = [t for t in params.values() if t.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=w["lr"], betas=(0.9, 0.999), eps=1e-8)
    losses, times = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(w, params, images, labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        ms = (time.perf_counter() - t0) * 1000
        losses.append(value)
        if i >= warmup:
            times.append(ms)
    print(json.dumps({
        "backend": "torch-cpu",
        "stepMsMedian": statistics.median(times),
        "stepMsAll": times,
        "steps": steps,
        "params": {
            "total": sum(t.numel() for t in params.values()),
            "trainable": sum(t.numel() for t in trainable),
        },
        "losses": losses,
        "torch": torch.__version__,
        "threads": threads,
        "blas": blas_info(),
    }))


if __name__ == "__main__":
    main()

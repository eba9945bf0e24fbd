"""PyTorch peer: matmul throughput on the CPU, measured as the bench measures mixtune's and TF.js's.

A [m, k] @ B [k, n] (B given as [n, k] and transposed when transB) with uniform(-1, 1) inputs. One sample runs
`inner` products (about 0.2 GFLOP in total, at most 50); the figure is the median over samples (5, or 3 for
products above 1 GFLOP) of sample time / inner, after 1 warm-up sample.

Usage: python3 torch_matmul.py JSON; JSON: {shapes: [{m, k, n, transB?}], threads}.
Prints one JSON line: {results: [{m, k, n, transB, inner, msMedian, gflops}], torch, threads, blas}.
"""

import json
import statistics
import sys
import time

import torch

from torch_blas import blas_info


def main():
    opts = json.loads(sys.argv[1])
    threads = opts.get("threads", 2)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(7)
    results = []
    for s in opts["shapes"]:
        m, k, n, trans_b = s["m"], s["k"], s["n"], bool(s.get("transB", False))
        a = torch.rand(m, k, generator=gen) * 2 - 1
        b = torch.rand(n, k, generator=gen) * 2 - 1 if trans_b else torch.rand(k, n, generator=gen) * 2 - 1
        rhs = b.T if trans_b else b
        flop = 2 * m * k * n
        inner = min(50, max(1, round(2e8 / flop)))
        samples = 3 if flop > 1e9 else 5
        times = []
        for i in range(1 + samples):
            t0 = time.perf_counter()
            for _ in range(inner):
                c = a @ rhs
            c[0, 0].item()
            if i > 0:
                times.append((time.perf_counter() - t0) * 1000 / inner)
        ms = statistics.median(times)
        results.append({"m": m, "k": k, "n": n, "transB": trans_b, "inner": inner, "msMedian": ms,
                        "gflops": flop / (ms * 1e6)})
    print(json.dumps({"results": results, "torch": torch.__version__, "threads": threads, "blas": blas_info()}))


if __name__ == "__main__":
    main()

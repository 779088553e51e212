"""Does each CPU device follow set_num_threads? (issue 11)

    python benchmarks/threads.py [--n 2048] [--sequence 2,1,2,1,2] [--repeats 3]

For every available CPU device that runs fp32, an n^3 fp32 matmul is timed
(best kernel time of --repeats calls after one warm-up) at each thread
count of the sequence in turn, and its GFLOPS printed. A device that
follows the count slows at 1 thread and comes back at 2; one that cannot
(PoCL fixes its pool when it starts) says so in Device.threads, printed
beside it. Nothing here asserts a speed; tests/test_threads.py does."""

from __future__ import annotations

import argparse

import numpy as np
import xpuops as xo


def gflops(device, a, b, repeats):
    xo.matmul(a, b, device=device, precision="fp32")  # warm-up, (re)compile
    best = min(
        (
            xo.matmul(a, b, device=device, precision="fp32"),
            xo.last_info()["kernel_s"],
        )[1]
        for _ in range(repeats)
    )
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--sequence", default="2,1,2,1,2")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    seq = [int(t) for t in args.sequence.split(",")]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.n, args.n), dtype=np.float32)
    b = rng.standard_normal((args.n, args.n), dtype=np.float32)
    old = xo.get_num_threads()
    print(f"{args.n}^3 fp32 matmul, GFLOPS at threads {seq} (best of {args.repeats})")
    try:
        for d in xo.devices():
            if not (d.available and d.kind == "cpu" and "fp32" in d.precisions):
                continue
            if d.simulated or d.backend == "ref":
                continue
            figures = []
            for t in seq:
                xo.set_num_threads(t)
                figures.append(gflops(d.name, a, b, args.repeats))
            print(f"  {d.name:14s} " + " ".join(f"{g:6.0f}" for g in figures))
            print(f"  {'':14s} ({d.threads})")
    finally:
        xo.set_num_threads(old)


if __name__ == "__main__":
    main()

"""What one small call costs: xpuops against NumPy and PyTorch, same run.

A notebook calls small matmuls in loops; there the fixed cost per call is
the whole figure. Each figure is the best of 7 rounds of N back-to-back
calls with cached plans, in microseconds per call.

    python benchmarks/call_overhead.py

PyTorch is a peer only when installed (it is not a dependency).
"""

from __future__ import annotations

import platform
import timeit

import numpy as np
import xpuops as xo
from xpuops.api.cpu import cpu_info


def per_call_us(fn, calls: int = 20000, rounds: int = 7) -> float:
    fn()  # plans, caches, lazy imports
    return min(timeit.repeat(fn, number=calls, repeat=rounds)) / calls * 1e6


def main() -> None:
    cpu = cpu_info()
    print(
        f"{cpu.model} ({platform.machine()}), {cpu.cores} cores, "
        f"{xo.get_num_threads()} threads; xpuops {xo.__version__}, "
        f"NumPy {np.__version__}"
    )
    try:
        import torch

        torch.set_num_threads(xo.get_num_threads())
    except ImportError:
        torch = None
        print("(PyTorch not installed: no torch column)")
    rng = np.random.default_rng(0)
    rows = []
    for n in (8, 64):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        xo.matmul(a, b)
        ran = xo.last_info()["impl"]
        row = [
            f"{n}x{n} fp32 matmul",
            per_call_us(lambda: xo.matmul(a, b)),
            per_call_us(lambda: a @ b),
        ]
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            row.append(per_call_us(lambda: torch.mm(ta, tb)))
        rows.append((row, ran))
    # int8 with quantized weights: the activations are quantized per call
    a = rng.standard_normal((64, 64)).astype(np.float32)
    qw = xo.quantize(rng.standard_normal((64, 64)).astype(np.float32), axis=1)
    xo.matmul(a, qw, precision="int8")
    ran = xo.last_info()["impl"]
    row = [
        "64x64 int8 (QTensor weights)",
        per_call_us(lambda: xo.matmul(a, qw, precision="int8"), calls=5000),
        per_call_us(lambda: a @ qw.dequantize()),
    ]
    if torch is not None:
        qa = torch.randint(-127, 128, (64, 64), dtype=torch.int8)
        qb = torch.randint(-127, 128, (64, 64), dtype=torch.int8)
        row.append(per_call_us(lambda: torch._int_mm(qa, qb), calls=5000))
    rows.append((row, ran))
    head = ["call", "xpuops us", "NumPy us"] + (["torch us"] if torch else [])
    print("  ".join(f"{h:>28s}" if i == 0 else f"{h:>10s}" for i, h in enumerate(head)))
    for row, ran in rows:
        cells = [f"{row[0]:>28s}"] + [f"{v:10.2f}" for v in row[1:]]
        ratio = row[1] / row[2]
        print("  ".join(cells) + f"   xpuops/NumPy {ratio:.2f}x  ({ran})")
    print(
        "NumPy's int8 column is a float32 matmul with the dequantized weights "
        "(NumPy has no int8 GEMM); torch's is torch._int_mm on int8 tensors."
    )


if __name__ == "__main__":
    main()

"""Search the GEMM tiling (TS, WPT) for this machine's OpenCL device and
print the best entry for the tuning table in csrc/backends/opencl/opencl.c.

    python benchmarks/opencl_tune.py [--n 1024] [--device opencl:0]

Each setting goes through XPUOPS_OPENCL_TUNE, the same override users have;
plans are dropped between settings so every one compiles its own kernel."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import xpuops as xo
from xpuops import _core


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--device", default="opencl:0")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    dev = next(d for d in xo.devices() if d.name == args.device)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.n, args.n)).astype(np.float32)
    results = []
    for ts in (8, 16, 32, 64):
        for wpt in (1, 2, 4, 8, 16):
            if ts % wpt or ts * ts // wpt > 1024:
                continue
            os.environ["XPUOPS_OPENCL_TUNE"] = f"TS={ts},WPT={wpt}"
            _core.cache_clear()
            try:
                m = xo.measure(
                    xo.matmul,
                    a,
                    a,
                    device=dev.name,
                    precision=args.precision,
                    repeats=2,
                    accuracy=False,
                )
            except RuntimeError as e:  # a tile this device cannot build or run
                print(f"TS={ts:2d} WPT={wpt:2d}: {str(e).splitlines()[0]}")
                continue
            results.append((m.throughput.ops_per_s, ts, wpt))
            print(f"TS={ts:2d} WPT={wpt:2d}: {m.throughput}")
    os.environ.pop("XPUOPS_OPENCL_TUNE", None)
    best = max(results)
    rate = xo.Throughput(best[0], args.precision)
    print(f"\nbest on {dev.full_name}: TS={best[1]} WPT={best[2]} ({rate})")
    print("table entry (csrc/backends/opencl/opencl.c, kGemmTuning):")
    print(
        f'    {{"<platform substring>", "<device substring>", {best[1]}, {best[2]}}},'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

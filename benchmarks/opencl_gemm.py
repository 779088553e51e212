"""The OpenCL GEMM against CLBlast on the same device, and int8 vs fp32.

    python benchmarks/opencl_gemm.py [--n 1024,2048] [--device opencl:0]
                                     [--budget 10]

Each size runs before tuning (the fixed table) and after a tuning search
made in this run (its own cache directory; the search happens while the
plan is made, its time is the plan time shown, never in the timed calls).

CLBlast (Debian's libclblast-dev) is a benchmark-only peer, built here from
benchmarks/clblast_sgemm.c when its headers and library are present. Both
GEMMs are timed on the device from enqueue to finish, copies excluded."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xpuops as xo
from xpuops import _core

HERE = Path(__file__).parent


def clblast(n: int, index: int):
    """CLBlast SGEMM GFLOPS on device `index`, or None with the reason."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/clblast_c.h").exists():
        return None, "CLBlast not installed (apt-get install libclblast-dev)"
    exe = Path(tempfile.mkdtemp()) / "clblast_sgemm"
    build = subprocess.run(
        [
            cc,
            "-O2",
            str(HERE / "clblast_sgemm.c"),
            "-o",
            str(exe),
            "-lclblast",
            "-lOpenCL",
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode:
        return None, build.stderr.strip()
    out = subprocess.run(
        [str(exe), str(n), str(index), "3"], capture_output=True, text=True, check=False
    )
    m = re.search(r"([\d.]+) FP32 GFLOPS", out.stdout)
    return (float(m.group(1)) * 1e9, out.stdout.strip()) if m else (None, out.stderr)


def _fresh(env: dict) -> None:
    """Set env for the next plans and drop the old ones."""
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _core.cache_clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", default="1024,2048", help="comma list of sizes")
    ap.add_argument("--device", default="opencl:0")
    ap.add_argument("--budget", default="10", help="seconds of tuning per class")
    args = ap.parse_args()
    dev = next(d for d in xo.devices() if d.name == args.device)
    print(f"# OpenCL GEMM on {dev.full_name}\n")
    # a cache of this run's own: "before" is the fixed table, "after" is a
    # search made here, timed apart (in the plan, before the measured calls)
    cache = tempfile.mkdtemp(prefix="xpuops-bench-cache-")
    for n in [int(v) for v in args.n.split(",")]:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        peer, text = clblast(n, int(dev.name.split(":")[1]))
        print(f"## {n}^3\n\n- peer: {text}")
        _fresh(
            {
                "XPUOPS_OPENCL_AUTOTUNE": "0",
                "XPUOPS_CACHE_DIR": tempfile.mkdtemp(prefix="xpuops-bench-none-"),
            }
        )
        before = xo.measure(
            xo.matmul,
            a,
            b,
            device=dev.name,
            precision="fp32",
            repeats=3,
            accuracy=False,
        )
        _fresh(
            {
                "XPUOPS_OPENCL_AUTOTUNE": "1",
                "XPUOPS_CACHE_DIR": cache,
                "XPUOPS_OPENCL_TUNE_BUDGET": args.budget,
            }
        )
        after = xo.measure(
            xo.matmul,
            a,
            b,
            device=dev.name,
            precision="fp32",
            repeats=3,
            accuracy=False,
        )
        for label, m in (("before tuning", before), ("after tuning", after)):
            ratio = f"; {m.throughput.ops_per_s / peer:.2f}x CLBlast" if peer else ""
            print(
                f"- xpuops fp32 {label}: {m.throughput} (device events{ratio}; "
                f"{m.throughput_e2e} end to end with copies; plan {m.plan_s:.1f} s) "
                f"— {m.impl}"
            )
        qa, qb = xo.quantize(a), xo.quantize(b, axis=1)
        m8 = xo.measure(xo.matmul, qa, qb, device=dev.name, repeats=3, accuracy=False)
        print(
            f"- xpuops int8 after tuning: {m8.throughput}; int8 / fp32 operation-rate "
            f"ratio {m8.throughput.ops_per_s / after.throughput.ops_per_s:.2f} — "
            f"{m8.impl}"
        )
        if "DOT4" in m8.impl:
            _fresh({"XPUOPS_OPENCL_DOT4": "0"})
            m8n = xo.measure(
                xo.matmul, qa, qb, device=dev.name, repeats=3, accuracy=False
            )
            print(f"- xpuops int8 without the dot product: {m8n.throughput}")
            _fresh({"XPUOPS_OPENCL_DOT4": None})
        else:
            print(
                "- int8 through integer dot products: the device has no "
                "cl_khr_integer_dot_product"
            )
        print()
    print("Why, in the device's own terms (int8, the last size):\n")
    print(m8.explain())
    return 0


if __name__ == "__main__":
    sys.exit(main())

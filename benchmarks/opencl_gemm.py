"""The OpenCL GEMM against CLBlast on the same device, and int8 vs fp32.

    python benchmarks/opencl_gemm.py [--n 2048] [--device opencl:0]

CLBlast (Debian's libclblast-dev) is a benchmark-only peer, built here from
benchmarks/clblast_sgemm.c when its headers and library are present. Both
GEMMs are timed on the device from enqueue to finish, copies excluded."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xpuops as xo

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--device", default="opencl:0")
    args = ap.parse_args()
    dev = next(d for d in xo.devices() if d.name == args.device)
    print(f"# OpenCL GEMM on {dev.full_name}\n")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.n, args.n)).astype(np.float32)
    b = rng.standard_normal((args.n, args.n)).astype(np.float32)
    m32 = xo.measure(
        xo.matmul, a, b, device=dev.name, precision="fp32", repeats=3, accuracy=False
    )
    print(
        f"- xpuops fp32 {args.n}^3: {m32.throughput} (device events; "
        f"{m32.throughput_e2e} end to end with copies) — {m32.impl}"
    )
    peer, text = clblast(args.n, int(dev.name.split(":")[1]))
    print(f"- peer: {text}")
    if peer:
        print(
            f"- xpuops / CLBlast = {m32.throughput.ops_per_s / peer:.2f}x "
            f"(kernel), {m32.throughput_e2e.ops_per_s / peer:.2f}x (end to end)"
        )
    qa, qb = xo.quantize(a), xo.quantize(b, axis=1)
    m8 = xo.measure(xo.matmul, qa, qb, device=dev.name, repeats=3, accuracy=False)
    print(
        f"- xpuops int8 {args.n}^3: {m8.throughput}; int8 / fp32 operation-rate "
        f"ratio {m8.throughput.ops_per_s / m32.throughput.ops_per_s:.2f}\n"
    )
    print("Why, in the device's own terms:\n")
    print(m8.explain())
    return 0


if __name__ == "__main__":
    sys.exit(main())

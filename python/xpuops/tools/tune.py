"""``xpuops tune``: search the OpenCL GEMM parameters of a device again and
cache them (xpuops.api.tuning)."""

from __future__ import annotations

import time

from ..api import tuning


def add_parser(sub) -> None:
    """Register the ``tune`` subcommand on an argparse subparsers object."""
    t = sub.add_parser("tune", help="tune the OpenCL GEMM for a device and cache it")
    t.add_argument("--device", default="opencl:0", help="an OpenCL device")
    t.add_argument(
        "--budget", type=float, default=10.0, help="seconds of search in all"
    )


def cmd_tune(args) -> int:
    """Run the search and print what each shape class got."""
    t0 = time.perf_counter()
    try:
        found = tuning.tune(args.device, args.budget)
    except ValueError as e:
        print(f"xpuops tune: {e}")
        return 2
    for f in found:
        print(f"{f.device} {f.shape_class:6s} {f.precision}: {f.impl}")
    files = ", ".join(str(p) for p in tuning.cache_files()) or "none written"
    print(f"\ntuned in {time.perf_counter() - t0:.1f} s; cache: {files}")
    return 0

"""The ``xpuops`` command: ``devices`` and ``tour``."""

from __future__ import annotations

import argparse
import platform
import statistics
import sys

import numpy as np

from . import _devices, reference
from ._ops import attention, conv2d, matmul
from ._throughput import Throughput
from ._timing import time_op


def _db(v: float) -> str:
    return "exact" if v == float("inf") else f"{v:.1f}"


def _table(rows, header) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join(
        [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    )


def cmd_devices(_args) -> int:
    rows = []
    for d in _devices.devices():
        precs = " ".join(
            p + ("" if v == "native" else "*") for p, v in d.precisions.items()
        )
        state = "yes" if d.available else f"no: {d.reason}"
        rows.append(
            [d.name, d.kind + (" (sim)" if d.simulated else ""), state, precs or "-"]
        )
    print(_table(rows, ["device", "kind", "available", "precisions (* emulated)"]))
    return 0


def _workloads(rng, quick):
    n = 256 if quick else 512
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    x = rng.standard_normal((1, 64, 28, 28)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    lq = 128 if quick else 256
    q = rng.standard_normal((1, 8, lq, 64)).astype(np.float32)
    kv = rng.standard_normal((1, 8, lq, 64)).astype(np.float32)
    return [
        (f"matmul {n}x{n}x{n}", matmul, (a, b), {}, a.astype(np.float64) @ b),
        (
            "conv2d 64x28x28 3x3",
            conv2d,
            (x, w),
            {"padding": 1},
            reference.conv2d(
                x.astype(np.float64), w.astype(np.float64), pad=((1, 1), (1, 1))
            ),
        ),
        (
            f"attention L={lq} D=64 causal",
            attention,
            (q, kv, kv),
            {"causal": True},
            reference.attention(q, kv, kv, causal=True),
        ),
    ]


def cmd_tour(args) -> int:
    print(
        f"xpuops tour on {platform.machine()} {platform.processor() or ''}, "
        f"{_devices.get_num_threads()} CPU threads\n"
    )
    print("Devices\n")
    cmd_devices(args)
    rng = np.random.default_rng(0)
    rows = []
    devs = [d for d in _devices.devices() if d.available]
    for label, fn, inputs, kw, exact in _workloads(rng, args.quick):
        for d in devs:
            for prec in d.precisions:
                if fn is attention and prec == "int4":
                    continue  # attention has no int4 scheme
                r = time_op(
                    fn,
                    *inputs,
                    device=d.name,
                    precision=prec,
                    min_time=args.min_time,
                    **kw,
                )
                best = min(r["kernel_s"])
                thr = Throughput(r["info"]["ops"] / best, prec)
                rows.append(
                    [
                        label,
                        d.name,
                        prec,
                        d.precisions[prec],
                        f"{best * 1e3:.2f}",
                        f"{statistics.median(r['wall_s']) * 1e3:.2f}",
                        str(thr),
                        _db(reference.sqnr_db(exact, r["out"])),
                    ]
                )
    print(
        "\nMeasured on this machine (kernel = best repeat; end-to-end = "
        "median, quantization and copies included)\n"
    )
    print(
        _table(
            rows,
            [
                "op",
                "device",
                "precision",
                "how",
                "kernel ms",
                "end-to-end ms",
                "throughput",
                "SQNR dB vs fp64",
            ],
        )
    )
    print(
        "\nTOPS count integer operations, TFLOPS floating-point ones: an "
        "INT8 figure and an FP32 figure measure different work."
    )
    print("The roofline picture arrives with the measurement layer (issue #4).")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``xpuops`` command."""
    p = argparse.ArgumentParser(prog="xpuops", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("devices", help="list every device, available or not")
    t = sub.add_parser("tour", help="detect devices, measure, print the table")
    t.add_argument("--quick", action="store_true", help="smaller shapes")
    t.add_argument(
        "--min-time",
        type=float,
        default=0.2,
        help="seconds of repeats per figure (default 0.2)",
    )
    args = p.parse_args(argv)
    return {"devices": cmd_devices, "tour": cmd_tour}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

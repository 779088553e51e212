"""The ``xpuops`` command (also ``python -m xpuops``):

xpuops devices                  every device, its precisions and peaks
xpuops compare matmul 512x4096x4096 --precisions fp32,bf16,int8
xpuops tour                     the main job: measure this machine
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys

import numpy as np

from ..api import devices as _devices
from ..api.cpu import cpu_info, measured_clock_ghz
from ..api.ops import attention, conv2d, matmul
from ..fleet.cli import main as fleet_main
from ..measuring.bandwidth import bandwidth
from ..measuring.canary import canary
from ..measuring.compare import compare
from .report import cmd_report

OPS = {"matmul": matmul, "conv2d": conv2d, "attention": attention}


def _table(rows, header) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [
            fmt.format(*header),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*map(str, r)) for r in rows),
        ]
    )


def cmd_devices(_args=None) -> int:
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
    print(f"\nThreads ({_devices.get_num_threads()} set):")
    for d in _devices.devices():
        if d.available and d.threads:
            print(f"  {d.name}: {d.threads}")
    peaks = {}
    for d in _devices.devices():
        if d.kind != "cpu" or d.simulated:
            continue
        for prec, t in d.peak.items():
            # the machine's figure: the device that uses the most cores
            if prec not in peaks or t.ops_per_s > peaks[prec].ops_per_s:
                peaks[prec] = t
    if peaks:
        print("\nTheoretical peaks of this CPU (measured clock):")
        for prec, t in peaks.items():
            print(f"  {prec:5s} {str(t):>18s} = {t.detail}")
    if getattr(_args, "canary", False):
        print("\n".join(_canaries()))
    return 0


def _canaries() -> list:
    """One line per device: does it compute each precision in that format?
    (xpuops.canary; simulated NPUs share one pipeline: npusim stands for
    them)."""
    lines = [
        "\nPrecision canaries (does each device compute in the format it claims?):"
    ]
    for d in _devices.devices():
        if not d.available or (d.simulated and d.name != "npusim"):
            continue
        verdicts = [canary(d.name, p) for p in d.precisions]
        good = [v.precision for v in verdicts if v.ok]
        lines.append(
            f"  {d.name}: " + (" ".join(good) + " as labelled" if good else "")
        )
        lines += [f"    NOT AS LABELLED: {v}" for v in verdicts if not v.ok]
    return lines


def _parse_shape(op: str, text: str):
    try:
        dims = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise SystemExit(f"shape {text!r} must be integers joined by x") from None
    if any(d <= 0 for d in dims):
        raise SystemExit(
            f"shape {text!r} has a zero or negative dimension: an empty problem "
            "has no operations to measure"
        )
    if op == "matmul":
        if len(dims) != 3:
            raise SystemExit("matmul shape is MxKxN, e.g. 512x4096x4096")
        m, k, n = dims
        return [(m, k), (k, n)], {}
    if op == "conv2d":
        if len(dims) != 6:
            raise SystemExit(
                "conv2d shape is NxCxHxWxOCxK (square kernel, "
                "'same' padding), e.g. 1x64x56x56x64x3"
            )
        nb, c, h, w, oc, k = dims
        return [(nb, c, h, w), (oc, c, k, k)], {"padding": "same"}
    if len(dims) != 4:
        raise SystemExit("attention shape is BxHxLxD, e.g. 1x8x512x64")
    b, h, length, d = dims
    return [(b, h, length, d)] * 3, {"causal": True}


def cmd_compare(args) -> int:
    shapes, kw = _parse_shape(args.op, args.shape)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    devices = "all" if args.devices == "all" else args.devices.split(",")
    precisions = args.precisions.split(",") if args.precisions else None
    cmp = compare(
        OPS[args.op],
        *arrays,
        devices=devices,
        precisions=precisions,
        min_time=args.min_time,
        **kw,
    )
    if args.json:
        cmp.to_json(args.json)
    if args.csv:
        recs = cmp.records()
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(recs[0]) if recs else [])
            w.writeheader()
            w.writerows(recs)
    if args.plot:
        cmp.plot(args.plot)
    _print(cmp)
    return 0


def _print(cmp):
    if not len(cmp):
        print("Nothing was measured:")
        print("\n".join(f"  {d} {p}: {r}" for d, p, r in cmp.skipped))
        return
    try:
        from rich.console import Console

        Console(width=160).print(cmp)
        for d, p, r in cmp.skipped:
            print(f"(not run: {d} {p}: {r})")
    except ImportError:  # rich is a dependency; plain text if it is missing
        print(cmp)


def _summary(cmp, bw) -> list:
    """A few plain sentences about what the tour measured. Precisions are
    compared by call rates (what a user's call gets), kernel rates beside;
    modeled rows are kept apart: they are not measurements of this machine."""
    best = {}
    for m in cmp:
        if m.source != "measured":
            continue
        if (
            m.precision not in best
            or m.throughput_call.ops_per_s > best[m.precision].throughput_call.ops_per_s
        ):
            best[m.precision] = m
    out = []
    f32 = best.get("fp32")
    for prec in ("bf16", "fp16", "int8", "int4"):
        if f32 is None or prec not in best:
            continue
        q = best[prec]
        call = q.throughput_call.ops_per_s / f32.throughput_call.ops_per_s
        kern = q.throughput.ops_per_s / f32.throughput.ops_per_s
        line = (
            f"- Per whole call, the best {prec.upper()} run ({q.device}, "
            f"{q.throughput_call}) did {call:.1f}x the operations per second of "
            f"the best FP32 call ({f32.device}, {f32.throughput_call}); kernels "
            f"alone: {q.throughput} vs {f32.throughput}, {kern:.1f}x."
        )
        if call < 1:
            line += (
                f" A {prec} call is SLOWER than an fp32 one here: "
                f"{1 - q.kernel_min_s / q.call_min_s:.0%} of it goes to "
                + (
                    "quantizing the float inputs on every call (pass QTensors "
                    "from xpuops.quantize to do it once)."
                    if prec in ("int8", "int4")
                    else f"converting the inputs to {prec}."
                )
            )
        if prec in ("int8", "int4"):
            line += (
                f" {prec.upper()} operations are halves of integer multiply-"
                "accumulates, FP32 ones of float ones: different work, so the "
                "ratio is of rates, not of results."
            )
        out.append(line)
    for prec, m in best.items():
        if m.pct_of_peak is not None:
            out.append(
                f"- {prec}: the kernel reached {m.pct_of_peak:.0%} of this CPU's "
                f"theoretical {m.peak} ({m.peak.detail})."
            )
    accs = {p: m.errors["sqnr_db"] for p, m in best.items() if m.errors}
    if accs:
        out.append(
            "- Accuracy against fp64 (SQNR, ~6 dB per bit): "
            + ", ".join(f"{p} {db:.0f} dB" for p, db in accs.items())
            + "."
        )
    for m in cmp:
        if m.canary is not None and not m.canary.ok:
            out.append(f"- NOT AS LABELLED: {m.canary}.")
        if m.noisy and m.source == "measured":
            out.append(f"- {m.device} {m.precision}: {m.noise_note}; rerun it.")
    for m in cmp:
        if m.source == "modeled":
            out.append(
                f"- MODELED, not measured: an NPU like {m.device.split(':')[-1]} "
                f"would take {m.kernel_min_s * 1e3:.2f} ms ({m.throughput}) if "
                f"it sustained the share of its {m.peak} rating the model "
                "assumes; the result itself is computed bit-exactly."
            )
    out.append(
        f"- Memory bandwidth measured (cold, 1 GiB): {bw / 1e9:.1f} GB/s. A "
        f"7B-parameter model at 4 bits (3.5 GB) could decode at most "
        f"{bw / 3.5e9:.1f} tokens/s here, whatever the TOPS."
    )
    return out


def cmd_tour(args) -> int:
    cpu = cpu_info()
    print(
        f"xpuops tour: {cpu.model} ({platform.machine()}), {cpu.cores} cores, "
        f"measured clock {measured_clock_ghz():.2f} GHz, "
        f"{_devices.get_num_threads()} threads\n"
    )
    cmd_devices(argparse.Namespace(canary=True))
    bw = bandwidth("cpu")
    print(
        f"\nMemory read bandwidth (measured, 1 GiB, all threads): {bw / 1e9:.1f} GB/s\n"
    )
    n = 512 if args.quick else 1024
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    precs = args.precisions.split(",")
    # every real device, and one simulated NPU (its figures are modeled)
    devs = [d.name for d in _devices.devices() if d.available and not d.simulated]
    sims = [d.name for d in _devices.devices() if d.available and d.simulated]
    devs += [s for s in sims if s == "npusim:snapdragon-x-elite"][:1] or sims[:1]
    print(f"matmul {n}x{n}x{n} on every available device in {', '.join(precs)} ...")
    cmp = compare(matmul, a, b, devices=devs, precisions=precs, min_time=args.min_time)
    _print(cmp)
    print("\nWhat this means on this machine:")
    print("\n".join(_summary(cmp, bw)))
    cmp.plot(args.plot, bandwidth=bw)
    print(f"\nRoofline picture: {args.plot}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``xpuops`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["fleet"]:  # its own parser: xpuops/fleet/cli.py
        return fleet_main(argv[1:])
    p = argparse.ArgumentParser(
        prog="xpuops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    dv = sub.add_parser("devices", help="every device, its precisions and peaks")
    dv.add_argument(
        "--canary",
        action="store_true",
        help="also probe that each device computes in the format it claims",
    )
    c = sub.add_parser("compare", help="one op over devices x precisions")
    c.add_argument("op", choices=list(OPS))
    c.add_argument("shape", help="matmul MxKxN; conv2d NxCxHxWxOCxK; attention BxHxLxD")
    c.add_argument("--devices", default="all", help="'all' or a comma list")
    c.add_argument(
        "--precisions", default=None, help="comma list (default: all each device runs)"
    )
    c.add_argument(
        "--min-time", type=float, default=0.2, help="seconds of repeats per figure"
    )
    c.add_argument("--json", help="write the records as JSON")
    c.add_argument("--csv", help="write the records as CSV")
    c.add_argument("--plot", help="write the roofline picture (PNG)")
    t = sub.add_parser("tour", help="measure this machine: the main job")
    t.add_argument("--quick", action="store_true", help="smaller shapes")
    t.add_argument("--precisions", default="fp32,bf16,int8")
    t.add_argument("--min-time", type=float, default=0.2)
    t.add_argument(
        "--plot", default="xpuops-roofline.png", help="where to write the roofline PNG"
    )
    r = sub.add_parser("report", help="saved benchmark results as Markdown")
    r.add_argument("results", nargs="+", help="JSON files saved by --xpu-save")
    r.add_argument("-o", "--output", help="write the Markdown here too")
    r.add_argument("--html", help="write an HTML page too")
    r.add_argument("--plot", help="write a PNG of each run against the first")
    sub.add_parser("fleet", help="the suite on many machines (xpuops fleet -h)")
    args = p.parse_args(argv)
    commands = {
        "devices": cmd_devices,
        "compare": cmd_compare,
        "tour": cmd_tour,
        "report": cmd_report,
    }
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

"""The xpuops command (also: python -m xpuops).

  xpuops devices                  every device, its precisions and peaks
  xpuops compare matmul 512x4096x4096 --precisions fp32,bf16,int8
  xpuops compare attention 1x8x512x64 --causal --kv-heads 2
  xpuops tour                     the main job: measure this machine
  xpuops tune [--device opencl:0] [--budget 10]   tune the OpenCL GEMM
  xpuops report base.json new.json
                                  saved benchmark results (pytest --xpu-save)
                                  as Markdown, HTML and a picture

Run "xpuops COMMAND --help" for a command's options.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import textwrap

import numpy as np

from ..api import devices as _devices
from ..api.cpu import cpu_info, measured_clock_ghz
from ..api.errors import DeviceUnavailableError, UnsupportedError
from ..api.ops import attention, conv2d, matmul
from ..api.precision import check_precisions
from ..fleet.cli import main as fleet_main
from ..measuring.bandwidth import bandwidth
from ..measuring.canary import canary
from ..measuring.compare import compare
from .report import cmd_report
from .tune import add_parser as add_tune_parser
from .tune import cmd_tune

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


#: Width the devices command keeps to (a terminal of 100 columns).
WIDTH = 100


def _wrap(text: str, indent: str = "  ", hang: str = "    ") -> str:
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hang,
        break_on_hyphens=False,
    )


def cmd_devices(_args=None) -> int:
    rows, absent = [], []
    for d in _devices.devices():
        precs = " ".join(
            p + ("" if v == "native" else "*") for p, v in d.precisions.items()
        )
        state = "yes" if d.available else "no (below)"
        if not d.available:
            absent.append(d)
        rows.append(
            [d.name, d.kind + (" (sim)" if d.simulated else ""), state, precs or "-"]
        )
    print(_table(rows, ["device", "kind", "available", "precisions (* emulated)"]))
    if absent:
        print("\nNot available:")
        for d in absent:
            print(_wrap(f"{d.name}: {d.reason}"))
    print(f"\nThreads ({_devices.get_num_threads()} set):")
    for d in _devices.devices():
        if d.available and d.threads:
            print(_wrap(f"{d.name}: {d.threads}"))
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
            print(_wrap(f"{prec:5s} {str(t):>18s} = {t.detail}", hang=" " * 29))
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


class UsageError(Exception):
    """A bad argument: printed as one line on stderr, exit status 2."""


def _dims(text: str, what: str, n: int, example: str) -> list:
    """``n`` positive integers joined by x, or UsageError saying which part
    is wrong and showing the form."""
    parts = text.lower().split("x")
    if len(parts) != n:
        raise UsageError(
            f"{what} shape {text!r} has {len(parts)} dimension(s), wanting {n}: "
            f"{example}"
        )
    dims = []
    for part in parts:
        try:
            dims.append(int(part))
        except ValueError:
            raise UsageError(
                f"{what} shape {text!r}: {part!r} is not an integer; {example}"
            ) from None
    if any(d <= 0 for d in dims):
        raise UsageError(
            f"{what} shape {text!r} has a zero or negative dimension: an empty "
            "problem has no operations to measure"
        )
    return dims


def _padding(text: str):
    low = text.strip().lower()
    if low in ("same", "valid"):
        return low
    try:
        vals = [int(v) for v in low.split(",")]
    except ValueError:
        raise UsageError(
            f"--padding {text!r}: give 'same', 'valid', P or PH,PW"
        ) from None
    if len(vals) not in (1, 2) or min(vals) < 0:
        raise UsageError(f"--padding {text!r}: give 'same', 'valid', P or PH,PW")
    return vals[0] if len(vals) == 1 else tuple(vals)


def _problem(args):
    """(operand shapes, op keywords) of the compare command's op and shape,
    with the per-op options checked."""
    op = args.op
    if op == "matmul":
        m, k, n = _dims(
            args.shape, "matmul", 3, "matmul shape is MxKxN, e.g. 512x4096x4096"
        )
        return [(m, k), (k, n)], {}
    if op == "conv2d":
        nb, c, h, w, oc, k = _dims(
            args.shape,
            "conv2d",
            6,
            "conv2d shape is NxCxHxWxOCxK (a KxK kernel), e.g. 1x64x56x56x64x3",
        )
        g = args.groups
        if c % g or oc % g:
            raise UsageError(
                f"--groups {g} must divide the input channels ({c}) and the "
                f"output channels ({oc})"
            )
        pad = _padding(args.padding)
        if pad == "same" and args.stride != 1:
            raise UsageError(
                "--padding same needs --stride 1; give the padding as a number"
            )
        kw = {"stride": args.stride, "padding": pad, "groups": g}
        if args.dilation != 1:
            kw["dilation"] = args.dilation
        return [(nb, c, h, w), (oc, c // g, k, k)], kw
    b, h, length, d = _dims(
        args.shape, "attention", 4, "attention shape is BxHxLxD, e.g. 1x8x512x64"
    )
    hkv = args.kv_heads or h
    if h % hkv:
        raise UsageError(
            f"--kv-heads {hkv} must divide the query heads ({h}) (grouped-query "
            "attention)"
        )
    lk = args.kv_len or length
    kw = {"causal": bool(args.causal)}
    return [(b, h, length, d), (b, hkv, lk, d), (b, hkv, lk, d)], kw


def _writable(path: str, option: str) -> None:
    """UsageError unless ``path`` can be created (checked before the run, so
    a typo does not cost the measurement)."""
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not os.access(folder, os.W_OK) or (
        os.path.exists(path) and not os.access(path, os.W_OK)
    ):
        raise UsageError(f"{option} {path}: not writable")


def cmd_compare(args) -> int:
    shapes, kw = _problem(args)
    devices = _devices_arg(args.devices)
    precisions = check_precisions(args.precisions) if args.precisions else None
    for option in ("json", "csv", "plot"):
        if getattr(args, option):
            _writable(getattr(args, option), f"--{option}")
    if args.plot and not args.plot.lower().endswith(_PLOT_FORMATS):
        raise UsageError(
            f"--plot {args.plot}: the picture's format comes from its "
            f"extension; use one of {', '.join(_PLOT_FORMATS)}"
        )
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    cmp = compare(
        OPS[args.op],
        *arrays,
        devices=devices,
        precisions=precisions,
        min_time=args.min_time,
        **kw,
    )
    if not len(cmp):
        reasons = "; ".join(f"{d} {p}: {r}" for d, p, r in cmp.skipped)
        raise UsageError(f"nothing was run: {reasons}")
    _print(cmp)
    # files after the table: a failed write loses no measurement
    if args.json:
        cmp.to_json(args.json)
    if args.csv:
        recs = cmp.records(include_skipped=True)
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(recs[0]))
            w.writeheader()
            w.writerows(recs)
    if args.plot:
        cmp.plot(args.plot)
    for option in ("json", "csv", "plot"):
        if getattr(args, option):
            print(f"wrote {getattr(args, option)}")
    return 0


_PLOT_FORMATS = (".png", ".svg", ".pdf")


def _devices_arg(text: str):
    """'all' or the comma list, each name checked now (one line naming the
    valid ones and the closest for a typo)."""
    if text.strip().lower() == "all":
        return "all"
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--devices is empty: give 'all' or a comma list")
    for n in names:
        _devices.resolve(n)  # raises with the valid names
    return names


def _print(cmp):
    try:
        from rich.console import Console

        # wide enough for the table's own width: rich never wraps a cell
        plain = str(cmp).splitlines()[0]
        Console(width=max(100, len(plain) + 3 * len(cmp.HEADER) + 4)).print(cmp)
    except ImportError:  # plain text when rich is not installed
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


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line on stderr (status 2)."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds"
        ) from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a finite number of seconds >= 0"
        )
    return v


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= 1")
    return v


def parser() -> argparse.ArgumentParser:
    """The command line of the xpuops command."""
    p = _Parser(
        prog="xpuops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(
        dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser
    )
    dv = sub.add_parser("devices", help="every device, its precisions and peaks")
    dv.add_argument(
        "--canary",
        action="store_true",
        help="also probe that each device computes in the format it claims",
    )
    c = sub.add_parser(
        "compare",
        help="one op over devices x precisions",
        description="Measure one op on each device in each precision; print "
        "the table, then write the files asked for.",
    )
    c.add_argument("op", choices=list(OPS))
    c.add_argument(
        "shape",
        help="matmul MxKxN; conv2d NxCxHxWxOCxK (KxK kernel); attention BxHxLxD "
        "(batch, query heads, length, head size)",
    )
    c.add_argument(
        "--devices",
        default="all",
        help="'all' or a comma list of names or aliases (cpu, gpu, npu)",
    )
    c.add_argument(
        "--precisions",
        default=None,
        help="comma list, e.g. fp32,bf16,int8 (default: all each device runs)",
    )
    c.add_argument(
        "--min-time",
        type=_seconds,
        default=0.2,
        help="seconds of repeats per figure (default 0.2)",
    )
    c.add_argument("--json", help="write the records as JSON")
    c.add_argument("--csv", help="write the records as CSV")
    c.add_argument("--plot", help="write the roofline picture (.png, .svg or .pdf)")
    g = c.add_argument_group("conv2d")
    g.add_argument("--stride", type=_positive, default=1, help="default 1")
    g.add_argument(
        "--padding",
        default="same",
        help="'same' (default), 'valid', P or PH,PW",
    )
    g.add_argument("--groups", type=_positive, default=1, help="default 1")
    g.add_argument("--dilation", type=_positive, default=1, help="default 1")
    g = c.add_argument_group("attention")
    g.add_argument(
        "--causal",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="causal mask, aligned bottom-right (default: none)",
    )
    g.add_argument(
        "--kv-heads",
        type=_positive,
        default=None,
        help="key/value heads for grouped-query attention (default: H)",
    )
    g.add_argument(
        "--kv-len", type=_positive, default=None, help="key length (default: L)"
    )
    t = sub.add_parser("tour", help="measure this machine: the main job")
    t.add_argument("--quick", action="store_true", help="smaller shapes")
    t.add_argument("--precisions", default="fp32,bf16,int8")
    t.add_argument("--min-time", type=_seconds, default=0.2)
    t.add_argument(
        "--plot", default="xpuops-roofline.png", help="where to write the roofline PNG"
    )
    r = sub.add_parser(
        "report", help="saved benchmark results (pytest --xpu-save) as Markdown"
    )
    r.add_argument("results", nargs="+", help="JSON files saved by --xpu-save")
    r.add_argument("-o", "--output", help="write the Markdown here too")
    r.add_argument("--html", help="write an HTML page too")
    r.add_argument("--plot", help="write a PNG of each run against the first")
    sub.add_parser("fleet", help="the suite on many machines (xpuops fleet -h)")
    add_tune_parser(sub)
    return p


def main(argv=None) -> int:
    """Entry point of the xpuops command: 0 on success, 2 with one line on
    stderr for a bad argument (set XPUOPS_DEBUG=1 for the traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["fleet"]:  # its own parser: xpuops/fleet/cli.py
        return fleet_main(argv[1:])
    commands = {
        "tune": cmd_tune,
        "devices": cmd_devices,
        "compare": cmd_compare,
        "tour": cmd_tour,
        "report": cmd_report,
    }
    try:
        args = parser().parse_args(argv)
        return commands[args.cmd](args)
    except (
        UsageError,
        ValueError,
        TypeError,
        OSError,
        DeviceUnavailableError,
        UnsupportedError,
    ) as e:
        if os.environ.get("XPUOPS_DEBUG"):
            raise
        sys.stdout.flush()
        where = f"xpuops {args.cmd}" if "args" in locals() else "xpuops"
        print(f"{where}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

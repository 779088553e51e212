"""compare(): one op over devices x precisions, as a table, records, JSON,
pandas, HTML and a roofline picture."""

from __future__ import annotations

import html
import json
import math
import platform
import sys

import numpy as np

from ..api.cpu import cpu_info, measured_clock_ghz
from ..api.devices import Device, get_num_threads, resolve
from ..api.devices import devices as all_devices
from ..api.errors import DeviceUnavailableError, UnsupportedError
from ..api.precision import check_precision, check_precisions
from ..api.quant import QTensor
from ..api.version import __version__
from .measure import (
    OPS,
    Measurement,
    Peer,
    _reference,
    _shape_label,
    measure,
    measure_callable,
)
from .plot import plot_comparison
from .progress import Progress, in_jupyter

#: The flat record of one measurement (Comparison.records()); every key is
#: always present, None where it does not apply. Units: seconds, bytes,
#: operations per second; percentages as fractions.
RECORD_FIELDS = {
    "op": "matmul, conv2d, conv1d or attention",
    "shape": "operand shapes (matmul: [batch x] M x K x N)",
    "device": "device name, e.g. onednn",
    "backend": "backend of the device",
    "kind": "cpu, gpu or npu",
    "precision": "fp64 ... int4",
    "support": "native or emulated",
    "impl": "what ran: backend kernel and ISA",
    "unit": "TOPS (integer) or TFLOPS (float)",
    "computes": "the format the canary found the device computing in",
    "canary": "'ok', or what the precision canary found narrower",
    "throughput": "kernel rate: operations per second, best kernel time",
    "throughput_str": "the same with precision and unit, e.g. '2.1 INT8 TOPS'",
    "throughput_call": "call rate: operations per second, best whole call",
    "throughput_call_str": "the same with precision and unit",
    "throughput_e2e": "operations per second, median whole call",
    "kernel_min_s": "best kernel time",
    "kernel_median_s": "median kernel time",
    "call_min_s": "best whole-call time (quantization, copies included)",
    "spread": "(p90 - p10) / median of the kernel times",
    "spread_call": "(p90 - p10) / median of the whole-call times",
    "noisy": "True when a spread exceeds 20% or the repeats split in two",
    "noise_note": "why the figure is flagged noisy, '' when it is not",
    "e2e_median_s": "median whole-call time (quantization, copies included)",
    "first_call_s": "first call, plan creation included",
    "plan_s": "plan creation time",
    "prepare_s": "median input preparation time (conversion, quantization)",
    "repeats": "number of timed calls",
    "ops": "operations counted as in DESIGN.md s3 (a MAC is 2)",
    "bytes": "operand and result bytes in their operand formats",
    "intensity": "ops / bytes",
    "peak": "theoretical peak, operations per second",
    "peak_formula": "how the peak was computed",
    "pct_of_peak": "throughput / peak",
    "cache": "hot (back-to-back repeats) or cold (caches flushed per call)",
    "fits_llc": "the working set (bytes) fits the last-level cache",
    "llc_bytes": "last-level cache size, 0 when unknown",
    "cache_note": "where the operands came from, in words",
    "sqnr_db": "kernel's SQNR against fp64 of the inputs as given, dB",
    "rel_fro": "relative Frobenius error against fp64",
    "max_abs": "max absolute error against fp64",
    "sqnr_total_db": "SQNR against the original floats (QTensors' sources), dB",
    "rel_fro_total": "relative Frobenius error against the original floats",
    "total_note": "what the total error covers, or why it is unknown",
    "quantized_inputs": "operands were QTensors",
    "fallback": "always None: xpuops never falls back silently",
    "source": "measured, or modeled (a simulator's performance model)",
    "timing": "where kernel times came from: events (the device's own), wall "
    "(a host clock around the run) or modeled",
    "settings": "the op's keywords that change its work (causal, stride ...)",
    "not_run": "None for a measured row; for a row that was not run (records("
    "include_skipped=True)) why not: unsupported, over the time budget ...",
}
MACHINE_FIELDS = {
    "machine_cpu": "CPU model",
    "machine_isa": "ISA flags that matter for these kernels",
    "machine_cores": "cores this process may use",
    "machine_threads": "threads the CPU backends use",
    "machine_clock_ghz": "measured sustained clock of one core",
    "machine_os": "operating system",
    "machine_python": "Python version",
    "machine_numpy": "NumPy version",
    "machine_xpuops": "xpuops version",
    "machine_libraries": "each available device's library and version",
}
_ISA = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "amx_fp16",
)


def machine_fingerprint() -> dict:
    """Who measured: CPU, ISA flags, OS, library versions (MACHINE_FIELDS)."""
    cpu = cpu_info()
    return {
        "machine_cpu": cpu.model,
        "machine_isa": " ".join(f for f in _ISA if f in cpu.flags),
        "machine_cores": cpu.cores,
        "machine_threads": get_num_threads(),
        "machine_clock_ghz": round(measured_clock_ghz(), 2),
        "machine_os": f"{platform.system()} {platform.release()}",
        "machine_python": platform.python_version(),
        "machine_numpy": np.__version__,
        "machine_xpuops": __version__,
        "machine_libraries": "; ".join(
            f"{d.name}: {d.full_name}" for d in all_devices() if d.available
        ),
    }


def _record(m: Measurement) -> dict:
    e = m.errors or {}
    t = m.errors_total or {}
    return {
        "op": m.op,
        "shape": m.shape,
        "device": m.device,
        "backend": m.backend,
        "kind": m.kind,
        "precision": m.precision,
        "support": m.support,
        "impl": m.impl,
        "computes": m.computes,
        "canary": "ok"
        if m.canary is None or m.canary.ok
        else "; ".join(m.canary.findings),
        "unit": m.throughput.unit,
        "throughput": m.throughput.ops_per_s,
        "throughput_str": str(m.throughput),
        "throughput_call": m.throughput_call.ops_per_s,
        "throughput_call_str": str(m.throughput_call),
        "throughput_e2e": m.throughput_e2e.ops_per_s,
        "kernel_min_s": m.kernel_min_s,
        "kernel_median_s": m.kernel_median_s,
        "call_min_s": m.call_min_s,
        "spread": m.spread,
        "spread_call": m.spread_call,
        "noisy": m.noisy,
        "noise_note": m.noise_note,
        "e2e_median_s": m.wall_median_s,
        "first_call_s": m.first_call_s,
        "plan_s": m.plan_s,
        "prepare_s": m.prepare_s,
        "repeats": len(m.kernel_s),
        "ops": m.ops,
        "bytes": m.bytes,
        "intensity": m.intensity,
        "peak": m.peak.ops_per_s if m.peak else None,
        "peak_formula": m.peak.detail if m.peak else None,
        "pct_of_peak": m.pct_of_peak,
        "cache": m.cache,
        "fits_llc": m.fits_llc,
        "llc_bytes": m.llc_bytes,
        "cache_note": m.cache_note,
        "sqnr_db": e.get("sqnr_db"),
        "rel_fro": e.get("rel_fro"),
        "max_abs": e.get("max_abs"),
        "sqnr_total_db": t.get("sqnr_db"),
        "rel_fro_total": t.get("rel_fro"),
        "total_note": m.total_note,
        "quantized_inputs": m.quantized_inputs,
        "fallback": m.fallback,
        "source": m.source,
        "timing": m.timing,
        "settings": m.settings,
        "not_run": None,
    }


class Comparison:
    """The measurements of one compare() sweep, and the combinations that
    could not run with the reason (``skipped``: (device, precision, why))."""

    def __init__(self, measurements, skipped, machine, budget=None):
        self.measurements = list(measurements)
        self.skipped = list(skipped)
        self.machine = dict(machine)
        #: the time budget compare() was given (seconds), or None
        self.budget = budget

    def __len__(self):
        return len(self.measurements)

    def __iter__(self):
        return iter(self.measurements)

    def records(self, include_skipped: bool = False) -> list:
        """One flat dict per measurement with the keys of RECORD_FIELDS and
        MACHINE_FIELDS; with ``include_skipped`` also one per combination
        that was not run, its ``not_run`` saying why (other figures None)."""
        out = [dict(_record(m), **self.machine) for m in self.measurements]
        if include_skipped:
            first = self.measurements[0] if self.measurements else None
            for d, p, why in self.skipped:
                rec = dict.fromkeys(RECORD_FIELDS)
                rec.update(device=d, precision=p, not_run=why)
                if first is not None:
                    rec.update(op=first.op, shape=first.shape, settings=first.settings)
                out.append(dict(rec, **self.machine))
        return out

    def to_pandas(self, include_skipped: bool = False):
        """records() as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from e
        return pd.DataFrame(self.records(include_skipped))

    def to_json(self, path=None) -> str:
        """records() and the skipped combinations as JSON (written to path
        when given)."""
        text = json.dumps(
            {
                "records": self.records(),
                "skipped": [
                    {"device": d, "precision": p, "reason": r}
                    for d, p, r in self.skipped
                ],
                "budget_s": self.budget,
            },
            indent=1,
        )
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def rows(self) -> list:
        """Display rows (HEADER): measured rows first, then modeled ones."""
        out = []
        ordered = sorted(self.measurements, key=lambda m: m.source == "modeled")
        for m in ordered:
            pct = f"{m.pct_of_peak:.0%}" if m.pct_of_peak is not None else "-"
            db = f"{m.errors['sqnr_db']:.1f}" if m.errors else "-"
            if m.quantized_inputs and m.errors:
                total = m.errors_total["sqnr_db"] if m.errors_total else None
                db += f" ({total:.1f} total)" if total is not None else " (kernel)"
            peer = m.backend == "peer"  # no kernel time apart from the call
            if m.cache == "cold":
                cache = "cold"
            else:
                cache = "hot, fits LLC" if m.fits_llc else "hot"
            out.append(
                [
                    f"{m.op} {m.shape}" + (f" {m.settings}" if m.settings else ""),
                    m.device,
                    m.precision_label,
                    m.support,
                    m.source,
                    f"{m.call_min_s * 1e3:.3f}",
                    f"{m.kernel_min_s * 1e3:.3f}" if not peer else "-",
                    str(m.throughput_call) if m.source == "measured" else "-",
                    str(m.throughput) if not peer else "-",
                    pct,
                    db,
                    cache,
                    "NOISY" if m.noisy else "-",
                ]
            )
        return out

    HEADER = [
        "op",
        "device",
        "precision",
        "how",
        "source",
        "call ms",
        "kernel ms",
        "call rate",
        "kernel rate",
        "kernel of peak",
        "SQNR dB",
        "cache",
        "flags",
    ]

    def __str__(self) -> str:
        rows = self.rows()
        w = [
            max(len(str(r[i])) for r in [self.HEADER, *rows])
            for i in range(len(self.HEADER))
        ]
        fmt = "  ".join(f"{{:<{n}}}" for n in w)
        lines = [fmt.format(*self.HEADER), fmt.format(*("-" * n for n in w))]
        lines += [fmt.format(*r) for r in rows]
        lines += self.not_run()
        lines += self.notes()
        return "\n".join(lines)

    def not_run(self) -> list:
        """A line per combination that was not run, with the reason; the
        devices that do not run a precision at all share one line."""
        lines, unsupported = [], {}
        for d, p, r in self.skipped:
            head = f"{d} does not run {p}; "
            if r.startswith(head):
                unsupported.setdefault((p, r[len(head) :]), []).append(d)
            else:
                lines.append(f"(not run: {d} {p}: {r})")
        grouped = []
        for (p, rest), devs in unsupported.items():
            if len(devs) == 1:
                grouped.append(
                    f"(not run: {devs[0]} {p}: {devs[0]} does not run {p}; {rest})"
                )
            else:
                grouped.append(
                    f"(not run: {p} on {', '.join(devs)}: they do not run {p}; {rest})"
                )
        return grouped + lines

    def notes(self) -> list:
        """Plain sentences under the table: what the rates are, and every
        flag a row carries."""
        out = [
            "call rate: best whole call (conversion, quantization, copies "
            "included); kernel rate: best kernel alone. Compare precisions by "
            "the call rate."
        ]
        for m in self.measurements:
            if m.noisy:
                out.append(f"{m.device} {m.precision}: {m.noise_note}")
            if m.canary is not None and not m.canary.ok:
                out.append(str(m.canary))
        if any(m.cache == "hot" and m.fits_llc for m in self.measurements):
            out.append(
                "hot, fits LLC: the working set stayed in the last-level cache "
                "between repeats; memory-bound figures of such rows come from "
                "cache (measure with cache='cold' for memory's)."
            )
        return out

    def __repr__(self) -> str:
        return f"<Comparison of {len(self)} measurements>\n{self}"

    def __rich__(self):
        from rich.table import Table

        t = Table(title="xpuops compare", show_lines=False, caption_justify="left")
        for h in self.HEADER:
            t.add_column(
                h,
                justify="right" if h.endswith(("ms", "dB", "peak")) else "left",
                no_wrap=True,
            )
        for r in self.rows():
            t.add_row(*r)
        t.caption = "\n".join(self.not_run() + self.notes())
        return t

    def to_html(self) -> str:
        """The table, the rows not run with their reasons, and the notes as
        HTML (what a notebook shows)."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
            for r in self.rows()
        )
        skipped = "".join(
            f"<li>{html.escape(d)} {html.escape(p)}: {html.escape(r)}</li>"
            for d, p, r in self.skipped
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        return (
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + (f"<p>Not run:</p><ul>{skipped}</ul>" if skipped else "")
            + f"<ul>{notes}</ul>"
        )

    _repr_html_ = to_html

    def to_markdown(self) -> str:
        """The table, the rows not run with their reasons, and the notes as
        Markdown."""

        def cell(c):
            return str(c).replace("|", "\\|")

        lines = [
            "| " + " | ".join(self.HEADER) + " |",
            "|" + "---|" * len(self.HEADER),
            *("| " + " | ".join(cell(c) for c in r) + " |" for r in self.rows()),
        ]
        if self.skipped:
            lines += ["", "Not run:", ""]
            lines += [f"- {d} {p}: {r}" for d, p, r in self.skipped]
        lines += [""] + [f"- {n}" for n in self.notes()]
        return "\n".join(lines) + "\n"

    _repr_markdown_ = to_markdown

    def plot(self, path=None, bandwidth=None):
        """A roofline per precision with the measured points (left) and the
        throughput of each run with its accuracy (right). Returns the
        matplotlib Figure; saves it to ``path`` when given."""
        return plot_comparison(self, path=path, bandwidth=bandwidth)


def _choose_devices(devices) -> list:
    """Devices from "all", one name, a comma list or a list of names,
    aliases and Devices (each resolved once, in order)."""
    if isinstance(devices, str) and devices.strip().lower() == "all":
        return [d for d in all_devices() if d.available]
    if isinstance(devices, (str, Device)):
        names = [devices]
        if isinstance(devices, str):
            names = [n for n in devices.split(",") if n.strip()] or [devices]
    else:
        names = list(devices)
    chosen = []
    for n in names:
        d = resolve(n.strip() if isinstance(n, str) else n)
        if d not in chosen:
            chosen.append(d)
    return chosen


#: compare() keywords that go to measure(); the rest go to the op.
_MEASURE_KW = ("repeats", "warmup", "min_time", "accuracy", "cache")


def _peer_rows(peers, name, args, kw, results, skipped, expected):
    """Measure each Peer (or take each Measurement) for compare()."""
    timing = {
        k: v for k, v in kw.items() if k in ("repeats", "warmup", "min_time", "cache")
    }
    if expected is None and kw.get("accuracy", True):
        expected = _expected(name, args, kw)
    counted = next((m.ops for m in results), None)
    out = []
    for p in peers:
        if isinstance(p, Measurement):
            out.append(p)
            continue
        if not isinstance(p, Peer):
            raise TypeError(
                f"peers must be xpuops.Peer or Measurement objects, got {p!r}"
            )
        ops = p.ops if p.ops is not None else counted
        if ops is None:
            skipped.append(
                (
                    p.label,
                    p.precision,
                    "no xpuops row counted the operations; give the Peer ops=",
                )
            )
            continue
        nbytes = p.bytes
        if nbytes is None:
            arrays = [a for a in args if hasattr(a, "nbytes")]
            itemsize = 8 if check_precision(p.precision) == "fp64" else 4
            nbytes = sum(a.nbytes for a in arrays) + (
                expected.size * itemsize if expected is not None else 0
            )
        out.append(
            measure_callable(
                p.fn,
                *p.args,
                ops=ops,
                precision=p.precision,
                label=p.label,
                bytes=nbytes,
                op=name,
                shape=_shape_label(name, args),
                kind=p.kind,
                expected=expected,
                **timing,
            )
        )
    return out


def _expected(name: str, args, kw):
    """The fp64 answer of compare()'s problem (one BLAS thread: NumPy's
    spinning threads would steal the cores being timed)."""
    from threadpoolctl import threadpool_limits

    op_kw = {k: v for k, v in kw.items() if k not in _MEASURE_KW}
    with threadpool_limits(limits=1, user_api="blas"):
        return _reference(name, args, op_kw)


def _shrink(name: str, args, kw):
    """(smaller args, fraction of the work, 1/32 or more) for a budget
    probe: matmul with
    fewer rows of a, conv2d with fewer images or rows, conv1d with fewer
    images or positions, attention with fewer
    queries; None when the problem cannot be cut (a QTensor operand, or
    nothing to cut)."""
    if any(isinstance(a, QTensor) for a in args) or not args:
        return None
    first = np.asarray(args[0])
    if name == "matmul" and first.ndim >= 2:
        axis = first.ndim - 2
    elif name == "conv2d" and first.ndim == 4:
        layout = kw.get("layout", "NCHW")
        axis = 0 if first.shape[0] >= 8 else (2 if layout == "NCHW" else 1)
    elif name == "conv1d" and first.ndim == 3:
        layout = kw.get("layout", "NCL")
        axis = 0 if first.shape[0] >= 8 else (2 if layout == "NCL" else 1)
    elif name == "attention" and first.ndim == 4:
        axis = 2
    else:
        return None
    n = first.shape[axis]
    small = max(1, n // 32)
    if small >= n:
        return None
    index = [slice(None)] * first.ndim
    index[axis] = slice(0, small)
    return (first[tuple(index)], *args[1:]), small / n


def _estimate(op, name, args, kw, dev, precision, limit):
    """(seconds one call of the full problem is expected to take, seconds
    its first call may add for planning), from four calls: a small cut (1/32
    of the work along one axis) twice (plan, then timed), then one twice as
    large twice (its own plan may differ: a device that tunes per shape
    class, OpenCL, searches again there, and that search is no part of a
    call); extrapolated linearly in the work, so fixed costs per call (a
    weight quantized whole) are not multiplied. Once the probe has taken
    ``limit`` seconds it stops with the cruder estimate so far (the work
    scaled up: an overestimate). None when the problem cannot be cut."""
    import time

    cut = _shrink(name, args, kw)
    if cut is None:
        return None
    small, f = cut
    call = {k: v for k, v in kw.items() if k not in _MEASURE_KW}
    call.update(device=dev.name, precision=precision)
    first = np.asarray(args[0])
    t_start = time.perf_counter()
    times = []
    grown = _grow(first, small[0])
    for a0 in (small[0], small[0], grown, grown):
        t0 = time.perf_counter()
        op(a0, *small[1:], **call)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > limit and len(times) < 4:
            # the small cut scaled up: its timed call once there is one
            # (a first call holds its plan: a compile is no part of a call)
            return (times[1] if len(times) > 1 else times[0]) / f, 0.0
    plan1, t1, plan2, t2 = times
    plan = max(0.0, plan1 - t1, plan2 - t2)
    t2 = max(t1, t2)
    # t = t1 + slope * (work - f), work in fractions of the full problem
    slope = (t2 - t1) / f
    return max(t2, t1 + slope * (1 - f)), plan


def _grow(full, small):
    """The slice of ``full`` with twice the extent of ``small`` along the
    axis it was cut (a view)."""
    for axis, (n, m) in enumerate(zip(full.shape, small.shape, strict=True)):
        if n != m:
            index = [slice(None)] * full.ndim
            index[axis] = slice(0, min(n, 2 * m))
            return full[tuple(index)]
    return full


def _secs(t: float) -> str:
    return f"{t:.1f} s" if t >= 1 else f"{t * 1e3:.3g} ms"


def _row_seconds(per_call, plan, kw) -> float:
    """A row's expected cost: first call with its plan, one warm-up (or
    ``warmup``), then ``repeats`` calls or ``min_time`` of them (at least
    3); the canary and the accuracy check are small beside them."""
    repeats = kw.get("repeats")
    timed = (
        per_call * repeats if repeats else max(3 * per_call, kw.get("min_time", 0.2))
    )
    warm = kw.get("warmup")
    return plan + per_call * (2 + (1 if warm is None else warm)) + timed


def compare(
    op,
    *args,
    devices="all",
    precisions=None,
    progress=None,
    peers=(),
    budget: float | None = None,
    **kw,
) -> Comparison:
    """Measure ``op(*args, **kw)`` on every device x precision.

    devices: "all" (every available device) or a list of names/aliases;
    precisions: a list, or None for every precision each device runs.
    Combinations a device cannot run are listed in ``.skipped`` with the
    reason, never silently dropped. peers: ``xpuops.Peer``s (another
    library doing the same op, e.g. ``Peer(lambda: a @ b, precision="fp32",
    label="numpy")``) or Measurements from ``measure(callable, ...)``,
    timed the same way and shown in the same table.

    budget: seconds the whole sweep may take (None: no limit). Before each
    row two calls of a small cut of the problem (1/16 and 1/8 of the work)
    estimate its cost; a row that would not fit in what is left of the
    budget is not run and is listed in ``.skipped`` with its estimate.
    progress: a progress bar (on a terminal: rich on stderr; in Jupyter: a
    line updated in place); default: in Jupyter, or on a terminal when the
    sweep has more than two rows. Other keywords go to measure() (repeats,
    warmup, min_time, accuracy, cache) and to the op."""
    import time

    if op not in OPS:
        raise TypeError(
            "op must be xpuops.matmul, xpuops.conv2d, xpuops.conv1d or "
            f"xpuops.attention, got {op!r}"
        )
    if budget is not None and (
        isinstance(budget, bool)
        or not isinstance(budget, (int, float))
        or not budget > 0
    ):
        raise ValueError(f"budget must be a number of seconds > 0, got {budget!r}")
    t_start = time.perf_counter()
    name = OPS[op]
    chosen = _choose_devices(devices)
    precisions = check_precisions(precisions)
    grid = []
    skipped = []
    for d in chosen:
        for p in precisions or list(d.precisions):
            if p not in d.precisions:
                able = [
                    x.name
                    for x in all_devices()
                    if x.available and p in x.precisions and not x.simulated
                ]
                skipped.append(
                    (
                        d.name,
                        p,
                        f"{d.name} does not run {p}; devices that do: "
                        + (", ".join(able) or "none on this machine"),
                    )
                )
            else:
                grid.append((d, p))
    show = progress or (
        progress is None and (in_jupyter() or (len(grid) > 2 and sys.stderr.isatty()))
    )
    bar = Progress(len(grid), f"xpuops compare {name}") if show and grid else None
    expected, tried = None, False
    results = []
    order = grid
    costs = {}
    try:
        if budget is not None:
            # probe every row first, then run the cheapest first: the most
            # rows fit, and what does not is said with its estimate. Each
            # probe may take a share of the budget: a row whose small cut is
            # slower than that is too slow for it anyway
            probed = {}
            share = max(0.02 * budget, budget / (8 * max(1, len(grid))))
            for d, p in grid:
                if bar is not None:
                    bar.step(f"estimating {d.name} {p}")
                left = budget - (time.perf_counter() - t_start)
                if left <= 0:
                    costs[d.name, p] = math.inf
                    continue
                # simulated chips share one pipeline: one probe for them all
                key = (d.backend, p) if d.simulated else (d.name, p)
                if key in probed:
                    est = probed[key]
                else:
                    try:
                        est = _estimate(op, name, args, kw, d, p, min(left, share))
                    except (UnsupportedError, DeviceUnavailableError, ValueError):
                        est = None  # measure() says what is wrong
                    probed[key] = est
                costs[d.name, p] = (
                    _row_seconds(*est, kw) if est is not None else None,
                    est[0] if est is not None else None,
                )
            order = sorted(
                grid,
                key=lambda dp: (
                    math.inf
                    if costs[dp[0].name, dp[1]] is math.inf
                    else costs[dp[0].name, dp[1]][0] or 0.0
                ),
            )
        for d, p in order:
            if bar is not None:
                bar.step(f"{d.name} {p}")
            try:
                if budget is not None:
                    left = budget - (time.perf_counter() - t_start)
                    cost = costs[d.name, p]
                    if cost is math.inf:
                        why = (
                            f"over the time budget: the {budget:g} s were spent "
                            "before this row could be estimated"
                        )
                    elif cost[0] is not None and cost[0] > left:
                        why = (
                            f"over the time budget: estimated {cost[0]:.1f} s "
                            f"(a call ~{_secs(cost[1])}, from a probe of a "
                            f"smaller cut) with {max(left, 0):.1f} s of the "
                            f"{budget:g} s left"
                        )
                    else:
                        why = None
                    if why is not None:
                        skipped.append((d.name, p, why))
                        continue
                if expected is None and kw.get("accuracy", True) and not tried:
                    tried = True  # the fp64 answer once for every row
                    try:
                        expected = _expected(name, args, kw)
                    except (ValueError, TypeError, MemoryError):
                        pass  # the op's own check says what is wrong
                results.append(
                    measure(
                        op, *args, device=d.name, precision=p, expected=expected, **kw
                    )
                )
            except (UnsupportedError, DeviceUnavailableError) as e:
                skipped.append((d.name, p, str(e)))
            except ValueError as e:
                if "no operations" not in str(e):
                    raise
                skipped.append((d.name, p, f"empty: {e}"))
            finally:
                if bar is not None:
                    bar.advance()
    finally:
        if bar is not None:
            bar.close(
                f"xpuops compare {name}: {len(results)} of {len(grid)} rows "
                f"measured in {time.perf_counter() - t_start:.1f} s"
                + (
                    f" ({len(grid) - len(results)} not run: see the table)"
                    if len(results) < len(grid)
                    else ""
                )
            )
    # the table in the order asked for, whatever order they ran in
    rank = {(d.name, p): i for i, (d, p) in enumerate(grid)}
    results.sort(key=lambda m: rank.get((m.device, m.precision), len(rank)))
    if peers:
        if isinstance(peers, (Peer, Measurement)):
            peers = [peers]
        results += _peer_rows(peers, name, args, kw, results, skipped, expected)
    return Comparison(results, skipped, machine_fingerprint(), budget=budget)

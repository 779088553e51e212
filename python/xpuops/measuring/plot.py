"""Pictures: the roofline of each precision with the measured points, and
throughput beside accuracy. matplotlib's object API only (no pyplot), so it
works headless and in notebooks alike."""

from __future__ import annotations

import numpy as np

from .bandwidth import bandwidth as measure_bandwidth

_COLORS = {
    "fp64": "#555555",
    "fp32": "#1f77b4",
    "bf16": "#2ca02c",
    "fp16": "#17becf",
    "fp8": "#bcbd22",
    "int8": "#d62728",
    "int4": "#9467bd",
}
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def _tera(v, _pos=None):
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g}"


def plot_comparison(cmp, path=None, bandwidth=None):
    """Roofline (left) and throughput with SQNR (right) of a Comparison."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    ms = list(cmp)
    if not ms:
        raise ValueError("nothing was measured: the comparison is empty")
    bw = bandwidth or measure_bandwidth("cpu")
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    roof, bars = fig.subplots(1, 2, width_ratios=[1.1, 1])

    peaks, borrowed = {}, set()
    for m in ms:  # the roofs are this machine's: modeled rows draw none
        if m.peak is not None and m.source == "measured":
            peaks[m.precision] = max(peaks.get(m.precision, 0), m.peak.ops_per_s)
            if "no native" in m.peak.detail:
                borrowed.add(m.precision)  # runs on another format's units
    lo = (
        min(
            min(m.intensity for m in ms),
            min(p / bw for p in peaks.values()) if peaks else 1,
        )
        / 4
    )
    hi = (
        max(
            max(m.intensity for m in ms),
            max(p / bw for p in peaks.values()) if peaks else 1,
        )
        * 4
    )
    x = np.geomspace(lo, hi, 200)
    for prec, pk in sorted(peaks.items(), key=lambda kv: -kv[1]):
        roof.plot(
            x,
            np.minimum(pk, bw * x),
            color=_COLORS[prec],
            lw=1.5,
            alpha=0.7,
            ls="--" if prec in borrowed else "-",
            label=f"{prec.upper()} roof (theoretical peak)"
            + (", on other units" if prec in borrowed else ""),
        )
    roof.plot(
        x,
        bw * x,
        color="black",
        lw=0.8,
        ls=":",
        label=f"memory {bw / 1e9:.0f} GB/s (measured)",
    )
    devs = sorted({m.device for m in ms if m.source == "measured"})
    for m in ms:
        modeled = m.source != "measured"
        marker = "*" if modeled else _MARKERS[devs.index(m.device) % len(_MARKERS)]
        roof.scatter(
            m.intensity,
            m.throughput.ops_per_s,
            s=110 if modeled else 60,
            facecolor="none" if modeled else _COLORS[m.precision],
            edgecolor=_COLORS[m.precision] if modeled else "black",
            marker=marker,
            zorder=3,
        )
        if modeled:
            continue
        # the call rate below its kernel rate, joined by a line: the gap is
        # conversion, quantization and copies
        roof.plot(
            [m.intensity, m.intensity],
            [m.throughput_call.ops_per_s, m.throughput.ops_per_s],
            color=_COLORS[m.precision],
            lw=0.8,
            zorder=2,
        )
        roof.scatter(
            m.intensity,
            m.throughput_call.ops_per_s,
            s=30,
            facecolor="white",
            edgecolor=_COLORS[m.precision],
            marker=marker,
            zorder=3,
        )
        tags = []
        if (
            m.cache == "hot"
            and m.fits_llc
            and m.intensity < peaks.get(m.precision, 0) / bw
        ):
            tags.append("from cache")
        if m.throughput.ops_per_s > bw * m.intensity * 1.0 and "from cache" not in tags:
            tags.append("above memory roof: cache")
        if m.noisy:
            tags.append("NOISY")
        if m.canary is not None and not m.canary.ok:
            tags.append(f"computes {m.computes.split(' (')[0]}")
        if tags:
            roof.annotate(
                ", ".join(tags),
                (m.intensity, m.throughput.ops_per_s),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=6,
            )
    for i, d in enumerate(devs):
        roof.scatter(
            [],
            [],
            marker=_MARKERS[i % len(_MARKERS)],
            color="white",
            edgecolor="black",
            label=f"measured on {d}",
        )
    roof.scatter(
        [],
        [],
        marker="o",
        facecolor="white",
        edgecolor="black",
        s=30,
        label="small, hollow: call rate (whole call); filled: kernel rate",
    )
    for d in sorted({m.device for m in ms if m.source != "measured"}):
        roof.scatter(
            [],
            [],
            marker="*",
            facecolor="none",
            edgecolor="black",
            label=f"MODELED: {d} (not measured)",
        )
    roof.set_xscale("log")
    roof.set_yscale("log")
    roof.yaxis.set_major_formatter(FuncFormatter(_tera))
    roof.set_xlabel("arithmetic intensity (operations per byte moved)")
    roof.set_ylabel("operations per second\n(integer: OPS, float: FLOPS)")
    roof.set_title("Roofline: each precision has its own ceiling")
    roof.legend(fontsize=7, loc="upper left")
    roof.grid(True, which="both", alpha=0.2)

    def call_rate(m):
        return (m.throughput_call or m.throughput).ops_per_s

    order = sorted(ms, key=call_rate)
    y = np.arange(len(order))
    bars.barh(
        y,
        [call_rate(m) for m in order],
        color=[_COLORS[m.precision] for m in order],
        hatch=["//" if m.source != "measured" else "" for m in order],
    )
    bars.scatter(
        [m.throughput.ops_per_s for m in order],
        y,
        marker="|",
        s=120,
        color="black",
        zorder=3,
        label="kernel rate",
    )
    bars.set_yticks(
        y,
        [
            f"{m.device} {m.precision}"
            + (" (modeled)" if m.source != "measured" else "")
            for m in order
        ],
        fontsize=8,
    )
    bars.set_xscale("log")
    bars.xaxis.set_major_formatter(FuncFormatter(_tera))
    for yi, m in zip(y, order, strict=True):
        db = f", {m.errors['sqnr_db']:.0f} dB" if m.errors else ""
        flag = " NOISY" if m.noisy else ""
        rate = m.throughput_call if m.source == "measured" else m.throughput
        bars.text(
            max(call_rate(m), m.throughput.ops_per_s),
            yi,
            f" {rate}{db}{flag}",
            va="center",
            fontsize=7,
        )
    bars.legend(fontsize=7, loc="lower right")
    bars.set_xlabel(
        "call rate, bars (kernel rate, ticks; SQNR vs fp64 beside each bar)"
    )
    bars.set_title("TOPS and TFLOPS count different operations")
    bars.margins(x=0.6)
    shape = ms[0].op + " " + ms[0].shape
    fig.suptitle(
        f"xpuops: {shape} on {cmp.machine.get('machine_cpu', '')}", fontsize=10
    )
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig

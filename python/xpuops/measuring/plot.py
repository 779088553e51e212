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
#: One marker per device (a precision has its colour): ten shapes before
#: any repeats.
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
#: Colours of the modeled chips' bars (their own panel).
_MODELED = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e"]


def figure(**kw):
    """A matplotlib Figure that shows itself in Jupyter without any magic
    (``_repr_png_``) and draws nothing through pyplot (headless-safe)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("pictures need matplotlib: pip install 'xpuops[plot]'") from e

    class XpuopsFigure(Figure):
        def _repr_png_(self):
            import io

            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=90)
            return buf.getvalue()

    return XpuopsFigure(**kw)


def _tera(v, _pos=None):
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g}"


def _scale(ax, axis: str, values, room: float = 1.0) -> None:
    """Log scale when the values span a decade or more, else linear from 0
    (a log axis over less than a decade has crowded, unreadable ticks).
    ``room``: the share of the axis past the largest value left for text."""
    from matplotlib.ticker import FuncFormatter

    vals = [v for v in values if v and v > 0]
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    log = hi / lo >= 10
    getattr(ax, f"set_{axis}scale")("log" if log else "linear")
    if log:
        getattr(ax, f"set_{axis}lim")(lo / 2, hi * (hi / lo * 2) ** room)
    else:
        getattr(ax, f"set_{axis}lim")(0, hi * (1 + room))
    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(_tera))


def _labels(ms) -> list:
    """A distinct label per row: device and precision, then the shape,
    cache and settings where two rows would otherwise share one."""
    base = [f"{m.device} {m.precision}" for m in ms]
    if len(set(base)) == len(base):
        return base
    out = []
    for m, b in zip(ms, base, strict=True):
        extra = [m.shape]
        if m.settings:
            extra.append(m.settings)
        if m.cache == "cold":
            extra.append("cold")
        out.append(f"{b} {' '.join(extra)}")
    seen = {}
    for i, label in enumerate(out):  # identical rows: numbered
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            out[i] = f"{label} #{seen[label]}"
    return out


def _call_rate(m):
    return (m.throughput_call or m.throughput).ops_per_s


def plot_comparison(cmp, path=None, bandwidth=None):
    """Roofline of this machine with the measured points (left), each
    measured run's call rate with its accuracy (right) and, when the
    comparison has modeled rows, the modeled chips on a panel of their own
    (they are not this machine, so they never sit under its roofs)."""
    ms = list(cmp)
    if not ms:
        raise ValueError("nothing was measured: the comparison is empty")
    measured = [m for m in ms if m.source == "measured"]
    modeled = [m for m in ms if m.source != "measured"]
    on_roof = [m for m in measured if np.isfinite(m.intensity)]
    bw = bandwidth or measure_bandwidth("cpu")
    panels = (1 if on_roof else 0) + (1 if measured else 0) + (1 if modeled else 0)
    widths = (
        ([1.2] if on_roof else [])
        + ([1] if measured else [])
        + ([0.8] if modeled else [])
    )
    fig = figure(figsize=(6.5 * panels + 1, 6), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(1, panels, width_ratios=widths)))
    if on_roof:
        _roofline(axes.pop(0), on_roof, bw)
    if measured:
        _bars(axes.pop(0), measured)
    if modeled:
        _modeled(axes.pop(0), modeled)
    shapes = list(dict.fromkeys(m.shape for m in ms))
    shape = ms[0].op + " " + ", ".join(shapes)
    fig.suptitle(
        f"xpuops: {shape} on {cmp.machine.get('machine_cpu', '')}", fontsize=10
    )
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _roofline(roof, ms, bw):
    peaks, borrowed = {}, set()
    for m in ms:
        if m.peak is not None:
            peaks[m.precision] = max(peaks.get(m.precision, 0), m.peak.ops_per_s)
            if "no native" in m.peak.detail:
                borrowed.add(m.precision)  # runs on another format's units
    ridges = [p / bw for p in peaks.values()]
    lo = min([m.intensity for m in ms] + ridges) / 4
    hi = max([m.intensity for m in ms] + ridges) * 4
    x = np.geomspace(lo, hi, 200)
    top = max(peaks.values()) if peaks else max(m.throughput.ops_per_s for m in ms)
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
    # the memory slope up to the highest roof only: above it no precision
    # can go, whatever the bandwidth
    slope = x[bw * x <= top * 1.0001]
    roof.plot(
        slope,
        bw * slope,
        color="black",
        lw=0.8,
        ls=":",
        label=f"memory {bw / 1e9:.0f} GB/s (measured)",
    )
    devs = sorted({m.device for m in ms})
    for m in ms:
        marker = _MARKERS[devs.index(m.device) % len(_MARKERS)]
        roof.scatter(
            m.intensity,
            m.throughput.ops_per_s,
            s=60,
            facecolor=_COLORS[m.precision],
            edgecolor="black",
            marker=marker,
            zorder=3,
        )
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
        if m.throughput.ops_per_s > bw * m.intensity and "from cache" not in tags:
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
        label="small, hollow: call rate; filled: kernel rate",
    )
    from matplotlib.ticker import FuncFormatter

    roof.set_xscale("log")
    roof.set_yscale("log")
    roof.yaxis.set_major_formatter(FuncFormatter(_tera))
    roof.yaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
    roof.set_xlabel("arithmetic intensity (operations per byte moved)")
    roof.set_ylabel("operations per second\n(integer: OPS, float: FLOPS)")
    roof.set_title("Roofline of this machine: each precision has its own ceiling")
    # below the axes: a legend inside would cover points
    roof.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    roof.grid(True, which="both", alpha=0.2)


def _bars(bars, ms):
    order = sorted(ms, key=_call_rate)
    labels = _labels(order)
    y = np.arange(len(order))
    bars.barh(
        y,
        [_call_rate(m) for m in order],
        color=[_COLORS[m.precision] for m in order],
    )
    own = [m for m in order if m.backend != "peer"]  # peers have no kernel time
    bars.scatter(
        [m.throughput.ops_per_s for m in own],
        [y[order.index(m)] for m in own],
        marker="|",
        s=120,
        color="black",
        zorder=3,
        label="kernel rate (xpuops rows)",
    )
    bars.set_yticks(y, labels, fontsize=8)
    _scale(
        bars,
        "x",
        [_call_rate(m) for m in order] + [m.throughput.ops_per_s for m in order],
        room=0.6,
    )
    for yi, m in zip(y, order, strict=True):
        db = f", {m.errors['sqnr_db']:.0f} dB" if m.errors else ""
        flag = " NOISY" if m.noisy else ""
        bars.text(
            max(_call_rate(m), m.throughput.ops_per_s),
            yi,
            f" {m.throughput_call}{db}{flag}",
            va="center",
            fontsize=7,
        )
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    bars.set_xlabel("call rate, bars (SQNR vs fp64 beside each bar)")
    bars.set_title("Measured here: TOPS and TFLOPS count different operations")


def _modeled(ax, ms):
    order = sorted(ms, key=lambda m: m.throughput.ops_per_s)
    y = np.arange(len(order))
    ax.barh(
        y,
        [m.throughput.ops_per_s for m in order],
        color=[_MODELED[i % len(_MODELED)] for i in range(len(order))],
        hatch="//",
        edgecolor="white",
    )
    rated = [m.peak.ops_per_s if m.peak else None for m in order]
    ax.scatter(
        [r for r in rated if r],
        [yi for yi, r in zip(y, rated, strict=True) if r],
        marker="|",
        s=140,
        color="black",
        zorder=3,
        label="rated peak",
    )
    ax.set_yticks(y, [m.device.split(":")[-1] for m in order], fontsize=8)
    _scale(
        ax, "x", [m.throughput.ops_per_s for m in order] + [r for r in rated if r], 0.3
    )
    for yi, m in zip(y, order, strict=True):
        ax.text(
            m.throughput.ops_per_s,
            yi,
            f" {m.throughput}",
            va="center",
            fontsize=7,
        )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_xlabel("modeled rate (a share of the chip's rating)")
    ax.set_title("MODELED NPUs: not this machine, not measured")

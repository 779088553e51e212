"""The rated figures of shipping chips, as vendors quote them, and helpers
that teach how to read them.

A rating is data: chip, block, value, unit, the precision it counts, dense
or sparse, memory bandwidth, and where it came from. The helpers refuse to
divide figures that count different things and show instead the ratio under
stated assumptions; they accept a measured ``Device`` so the reader's own
machine sits in the same table.

    >>> from xpuops import chips
    >>> print(chips.compare("Snapdragon X2 Elite", "RTX 5090"))
    >>> print(chips.platform_tops("Core Ultra 200V"))
    >>> print(chips.decode_bound("Snapdragon X Elite", params=7e9, precision="int4"))
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..api.chipdata import CHIPS, SOURCE, Chip, get, names
from ..api.devices import Device
from ..api.throughput import BITS, Throughput
from ..measuring.bandwidth import bandwidth
from ..measuring.peaks import peak

__all__ = [
    "CHIPS",
    "SOURCE",
    "Chip",
    "ChipComparison",
    "DecodeBound",
    "PlatformTops",
    "compare",
    "decode_bound",
    "get",
    "names",
    "platform_tops",
    "table",
]


class _Shown:
    """Shown in a notebook as its text, not as a dataclass dump."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def _figure(x, precision=None):
    """(label, Throughput, sparse) of a chip's rating or of a Device's
    measured attainable peak (int8 when it runs int8, else fp32)."""
    if isinstance(x, Device):
        prec = precision or ("int8" if "int8" in x.precisions else "fp32")
        t = peak(x.name, prec)
        return f"{x.name} on this machine: {t} (measured)", t, False
    c = get(x)
    return c.label, c.throughput, c.sparse


@dataclass(frozen=True, repr=False)
class ChipComparison(_Shown):
    """Two figures side by side. ``ratio`` is b / a after normalising both to
    ``a``'s precision, dense; ``assumptions`` lists what that took (empty
    when the figures already counted the same thing)."""

    a: str
    b: str
    a_figure: Throughput
    b_figure: Throughput
    ratio: float
    assumptions: tuple

    @property
    def comparable(self) -> bool:
        return not self.assumptions

    def __str__(self) -> str:
        lines = [f"A = {self.a}", f"B = {self.b}"]
        if self.comparable:
            lines.append(f"B / A = {self.ratio:.3g} (same precision, both dense)")
        else:
            lines.append(
                "As quoted these are not comparable: they count different "
                "operations. Normalised to A's precision, dense:"
            )
            lines += [f"  - assuming {a}" for a in self.assumptions]
            lines.append(f"B / A = {self.ratio:.3g} (assumed, not measured)")
        return "\n".join(lines)


def compare(a, b) -> ChipComparison:
    """Put chip (or measured Device) ``b`` beside ``a``. Figures in the same
    precision and density divide directly; otherwise ``b`` is normalised to
    ``a``'s terms and every assumption is listed: sparse figures are 2x the
    dense ones (2:4 structured sparsity), and the same silicon does 2x the
    operations each time the operand width halves."""
    la, ta, sa = _figure(a)
    lb, tb, sb = _figure(b, precision=None if not _is_device(b) else _precision_of(a))
    assumptions = []
    # both sides normalised the same way (dense, A's precision), so that
    # compare(a, b).ratio * compare(b, a).ratio == 1
    value_a, value = ta.ops_per_s, tb.ops_per_s
    if sa:
        value_a /= 2
        assumptions.append(
            "A's sparse figure is 2x its dense one (2:4 structured sparsity)"
        )
    if sb:
        value /= 2
        assumptions.append(
            "B's sparse figure is 2x its dense one (2:4 structured sparsity)"
        )
    if tb.precision != ta.precision:
        factor = BITS[tb.precision] / BITS[ta.precision]
        value *= factor
        assumptions.append(
            f"{tb.precision.upper()} -> {ta.precision.upper()}: {factor:g}x, the "
            "vendors' rule of 2x per halving of operand width"
        )
    return ChipComparison(la, lb, ta, tb, value / value_a, tuple(assumptions))


def _is_device(x) -> bool:
    return isinstance(x, Device)


def _precision_of(x) -> str | None:
    if _is_device(x):
        return None
    c = get(x)
    return c.precision if c.precision in ("int8", "fp32", "bf16", "fp16") else None


@dataclass(frozen=True, repr=False)
class PlatformTops(_Shown):
    """A "platform TOPS" figure: the blocks added together."""

    chip: str
    total: float
    parts: tuple

    def __str__(self) -> str:
        parts = " + ".join(f"{v:g} ({b})" for b, v in self.parts)
        npu = dict(self.parts).get("NPU")
        tail = (
            f"\nThe NPU alone is {npu:g} TOPS: a model on the NPU gets that, "
            "not the sum; the blocks do not pool into one accelerator."
            if npu is not None
            else ""
        )
        return f"{self.chip}: {self.total:g} platform TOPS = {parts}{tail}"


def platform_tops(name) -> PlatformTops:
    """The sum a "platform TOPS" figure adds up, with its parts."""
    c = get(name)
    if not c.parts:
        raise ValueError(
            f"{c.name} is rated per block ({c.label}), not as a platform sum"
        )
    return PlatformTops(c.name, sum(v for _, v in c.parts), c.parts)


BYTES_PER_WEIGHT = {
    "fp32": 4,
    "bf16": 2,
    "fp16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
    "fp4": 0.5,
}


@dataclass(frozen=True, repr=False)
class DecodeBound(_Shown):
    """The most tokens per second memory bandwidth allows a decoder LLM that
    reads every weight once per generated token."""

    who: str
    bandwidth: float  # bytes/s
    weight_bytes: float
    tokens_per_s: float

    def __str__(self) -> str:
        return (
            f"{self.who}: {self.bandwidth / 1e9:.0f} GB/s / "
            f"{self.weight_bytes / 1e9:.2f} GB of weights = at most "
            f"{self.tokens_per_s:.1f} tokens/s, whatever the TOPS"
        )


def decode_bound(chip, params: float = 7e9, precision: str = "int4") -> DecodeBound:
    """Upper bound on decode tokens/s: bandwidth / (params x bytes per
    weight). ``chip`` is a chip name or a Device (its bandwidth measured)."""
    if precision not in BYTES_PER_WEIGHT:
        raise ValueError(f"precision must be one of {', '.join(BYTES_PER_WEIGHT)}")
    weight_bytes = params * BYTES_PER_WEIGHT[precision]
    if _is_device(chip):
        bw, who = bandwidth(chip.name), f"{chip.name} (this machine, measured)"
    else:
        c = get(chip)
        if c.bandwidth is None:
            raise ValueError(f"{c.name}: no memory bandwidth is quoted")
        bw, who = c.bandwidth * 1e9, c.name
    return DecodeBound(who, bw, weight_bytes, bw / weight_bytes)


def table(*extra) -> str:
    """The database as a text table; ``extra`` Devices add the reader's own
    machine as measured rows."""
    rows = [
        (
            c.name,
            c.block,
            c.label.split(": ", 1)[1],
            f"{c.bandwidth:,g} GB/s" if c.bandwidth else "-",
        )
        for c in CHIPS
    ]
    for d in extra:
        label, t, _ = _figure(d)
        rows.append((label, d.kind, str(t), f"{bandwidth(d.name) / 1e9:.0f} GB/s"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(v.ljust(n) for v, n in zip(r, w, strict=True)) for r in rows
    )

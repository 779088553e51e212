"""measure(): time one op on one device in one precision, honestly, and say
why the figure is what it is (DESIGN.md s3)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import reference
from ..api.chipdata import get as get_chip
from ..api.cpu import llc_bytes
from ..api.devices import resolve
from ..api.ops import (
    _default_precision,
    _operand,
    _pair,
    attention,
    conv1d,
    conv2d,
    conv_padding,
    last_info,
    matmul,
    matmul_shape_class,
)
from ..api.precision import check_precision
from ..api.quant import QTensor
from ..api.throughput import Throughput
from .bandwidth import bandwidth as measure_bw
from .canary import Canary, canary

OPS = {
    matmul: "matmul",
    conv2d: "conv2d",
    conv1d: "conv1d",
    attention: "attention",
}

#: A figure whose repeats spread more than this ((p90 - p10) / median) is
#: flagged noisy.
NOISY_SPREAD = 0.20
#: Two clusters: the largest jump between sorted repeats is at least this
#: ratio and each side holds at least a tenth of the repeats (and 2).
BIMODAL_JUMP = 1.5


def _spread(times) -> float:
    t = np.asarray(times, np.float64)
    med = float(np.median(t)) if t.size else 0.0
    if not med:
        return 0.0
    return float((np.percentile(t, 90) - np.percentile(t, 10)) / med)


def _split(times):
    """(index of the largest relative jump in the sorted times, its ratio)."""
    t = np.sort(np.asarray(times, np.float64))
    if t.size < 4 or t[0] <= 0:
        return 0, 1.0
    jumps = t[1:] / t[:-1]
    j = int(np.argmax(jumps))
    return j + 1, float(jumps[j])


def _bimodal(times) -> bool:
    """Repeats that fall into two clusters far apart (e.g. 44 us and 2.3 ms):
    the median of such a run describes neither."""
    n = len(times)
    cut, jump = _split(times)
    side = max(2, int(np.ceil(0.1 * n)))
    return jump >= BIMODAL_JUMP and cut >= side and n - cut >= side


def _clusters(times):
    """Medians of the two clusters of a bimodal run."""
    t = np.sort(np.asarray(times, np.float64))
    cut, _ = _split(times)
    return float(np.median(t[:cut])), float(np.median(t[cut:]))


def _mb(n: float) -> str:
    return f"{n / 1e6:.3g} MB" if n >= 1e5 else f"{n / 1e3:.3g} kB"


@dataclass
class Measurement:
    """One op on one device in one precision, measured in this process.

    Times are seconds. ``kernel_s``: the backend's own run per repeat (device
    events where it has them); ``wall_s``: the whole call per repeat,
    quantization, conversion and copies included. ``throughput`` is the
    kernel rate (best kernel time), ``throughput_call`` the call rate (best
    whole call), ``throughput_e2e`` the median call's rate. ``errors``:
    SQNR (dB), relative Frobenius and max abs error against an fp64 NumPy
    reference of the inputs as given (QTensors dequantized: the kernel's
    own error), or None when accuracy was not asked for; ``errors_total``
    the same against the original floats (QTensors replaced by the arrays
    they were quantized from), None when those are not known.
    ``cache``: "hot" (repeats back to back: a working set that fits the
    last-level cache is served from it) or "cold" (the cache is flushed
    before every timed call). ``canary``: whether the device computes in
    the format it is labelled with (see xpuops.canary)."""

    op: str
    shape: str
    device: str
    backend: str
    kind: str
    precision: str
    support: str  # "native" or "emulated"
    impl: str
    ops: float
    bytes: float
    kernel_s: list
    wall_s: list
    first_call_s: float
    plan_s: float
    prepare_s: float
    throughput: Throughput
    throughput_e2e: Throughput
    peak: Throughput | None
    errors: dict | None
    fallback: str | None = None  # xpuops never falls back; kept for records
    quantized_inputs: bool = False  # QTensor operands (quantized beforehand)
    source: str = "measured"  # "modeled": times come from a performance model
    emulation_s: float | None = None  # a simulator's own median wall time
    throughput_call: Throughput | None = None  # best whole call
    errors_total: dict | None = None  # against the original floats
    total_note: str = ""  # why errors_total is None, or what it covers
    cache: str = "hot"  # "hot" or "cold"
    llc_bytes: int = 0  # last-level cache size, 0 when unknown
    canary: Canary | None = None
    #: where kernel_s came from: "events" (the device's own event times),
    #: "wall" (a host clock around the run) or "modeled"
    timing: str = "wall"
    #: the op's keywords that change its work ("causal", "stride 2"), ''
    #: for the defaults
    settings: str = ""

    @property
    def kernel_min_s(self) -> float:
        return min(self.kernel_s)

    @property
    def kernel_median_s(self) -> float:
        return float(np.median(self.kernel_s))

    @property
    def wall_median_s(self) -> float:
        return float(np.median(self.wall_s))

    @property
    def call_min_s(self) -> float:
        return min(self.wall_s)

    @property
    def spread(self) -> float:
        """(p90 - p10) / median of the kernel times: the run-to-run noise."""
        return _spread(self.kernel_s)

    @property
    def spread_call(self) -> float:
        """(p90 - p10) / median of the whole-call times."""
        return _spread(self.wall_s)

    @property
    def noisy(self) -> bool:
        """True when kernel or call times spread more than NOISY_SPREAD or
        split into two clusters: the figure is not one number."""
        return any(
            _spread(t) > NOISY_SPREAD or _bimodal(t)
            for t in (self.kernel_s, self.wall_s)
        )

    @property
    def noise_note(self) -> str:
        """Why the figure is flagged noisy ('' when it is not)."""
        if not self.noisy:
            return ""
        parts = []
        for what, t in (("kernel", self.kernel_s), ("call", self.wall_s)):
            if _bimodal(t):
                lo, hi = _clusters(t)
                parts.append(
                    f"{what} times split in two clusters ({lo * 1e3:.3g} ms and "
                    f"{hi * 1e3:.3g} ms)"
                )
            elif _spread(t) > NOISY_SPREAD:
                parts.append(f"{what} times spread {_spread(t):.0%}")
        return "NOISY: " + ", ".join(parts)

    @property
    def fits_llc(self) -> bool:
        """The working set (operand and result bytes) fits the last-level
        cache, so hot repeats may be served from it (False when the bytes
        are unknown: a callable measured without bytes=)."""
        return bool(self.llc_bytes) and 0 < self.bytes <= self.llc_bytes

    @property
    def cache_note(self) -> str:
        """Where the operands came from, in a few words."""
        if not self.bytes:
            return f"{self.cache} cache (working set unknown)"
        ws = _mb(self.bytes)
        llc = f"the {_mb(self.llc_bytes)} LLC" if self.llc_bytes else "the LLC"
        if self.cache == "cold":
            return f"cold cache (flushed before each call; {ws} working set)"
        if self.fits_llc:
            return f"hot cache: the {ws} working set fits {llc}"
        return f"hot cache: the {ws} working set exceeds {llc}"

    @property
    def computes(self) -> str:
        """The format the device really computed in (the precision itself
        unless the canary found a narrower one)."""
        return self.canary.computes if self.canary else self.precision

    @property
    def precision_label(self) -> str:
        """The precision as shown: never the claimed name alone over a
        narrower computation."""
        if self.canary is None or self.canary.ok:
            return self.precision
        return f"{self.precision} (computed as {self.canary.computes.split(' (')[0]}!)"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity: operations per byte of operands and result."""
        return self.ops / self.bytes if self.bytes else math.inf

    @property
    def pct_of_peak(self) -> float | None:
        """Share of the theoretical peak reached (0..1), or None."""
        return self.throughput.ops_per_s / self.peak.ops_per_s if self.peak else None

    def percent_of(self, chip) -> float:
        """Share of a rated chip's figure for this precision (0..1); raises
        when the chip is rated in another precision or with sparsity."""
        c = get_chip(chip)
        return self.throughput / c.throughput

    def explain(self, bandwidth: float | None = None) -> str:
        """Why the figure is what it is, in plain words: compute- or memory-
        bound against this device's roofline, the share of time outside the
        kernel, dispatch latency, emulated formats, and how the precision's
        peak compares with fp32's."""
        return "\n".join(_explain(self, bandwidth))

    def accuracy_note(self) -> str:
        """SQNR of the kernel and, for QTensor operands, against the
        original floats."""
        if not self.errors:
            return ""
        k = self.errors["sqnr_db"]
        if not self.quantized_inputs:
            return f"SQNR {k:.1f} dB vs fp64"
        if self.errors_total:
            return (
                f"SQNR {k:.1f} dB kernel (vs the dequantized inputs), "
                f"{self.errors_total['sqnr_db']:.1f} dB total (vs the original "
                "floats)"
            )
        return f"SQNR {k:.1f} dB kernel only ({self.total_note})"

    def __str__(self) -> str:
        pct = f" ({self.pct_of_peak:.0%} of peak)" if self.pct_of_peak else ""
        what = f"{self.op} {self.shape}" + (
            f" ({self.settings})" if self.settings else ""
        )
        head = f"{what} on {self.device} ({self.precision_label}, {self.support})"
        if self.backend == "peer":
            what = f"{self.op} {self.shape}" if self.shape else self.op
            return (
                f"{what} by {self.device} ({self.precision}, your callable): "
                f"call {self.throughput_call} in {self.call_min_s * 1e3:.3f} ms"
                + (f"; {self.accuracy_note()}" if self.errors else "")
                + f"; {self.cache_note}"
            )
        if self.source == "modeled":
            return (
                f"{head}: MODELED (not measured) {self.throughput} in "
                f"{self.kernel_min_s * 1e3:.3f} ms{pct}"
                + (f"; {self.accuracy_note()}" if self.errors else "")
            )
        parts = [
            f"call {self.throughput_call} in {self.call_min_s * 1e3:.3f} ms",
            f"kernel {self.throughput} in {self.kernel_min_s * 1e3:.3f} ms{pct}",
        ]
        tail = [self.cache_note]
        if self.errors:
            tail.insert(0, self.accuracy_note())
        if self.noisy:
            tail.append(self.noise_note)
        return f"{head}: {', '.join(parts)}; {'; '.join(tail)}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """A notebook shows the sentence and the figures as a small table."""
        import html

        rows = [
            ("call rate", str(self.throughput_call), f"{self.call_min_s * 1e3:.3f} ms"),
            ("kernel rate", str(self.throughput), f"{self.kernel_min_s * 1e3:.3f} ms"),
        ]
        if self.pct_of_peak is not None:
            rows.append(("of peak", f"{self.pct_of_peak:.0%}", str(self.peak)))
        if self.errors:
            rows.append(("accuracy", self.accuracy_note(), ""))
        rows.append(("cache", self.cache_note, ""))
        if self.noisy:
            rows.append(("NOISY", self.noise_note, ""))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
            for r in rows
        )
        what = f"{self.op} {self.shape}" + (
            f" ({self.settings})" if self.settings else ""
        )
        head = html.escape(
            f"{what} on {self.device} ({self.precision_label}, {self.support}, "
            f"{self.source})"
        )
        return f"<p><b>{head}</b></p><table>{body}</table>"


def _shape_label(op: str, args) -> str:
    shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
    if op == "matmul" and len(shapes) >= 2:
        a, b = shapes[0], shapes[1]
        batch = a[:-2] if len(a) > 2 else ()
        m = a[-2] if len(a) > 1 else 1
        return "x".join(map(str, (*batch, m, a[-1], b[-1])))
    if op == "attention" and len(shapes) >= 3 and shapes[1] == shapes[0]:
        return "x".join(map(str, shapes[0]))  # k, v shaped as q
    if op == "attention" and len(shapes) >= 3:
        return "x".join(map(str, shapes[0])) + " kv " + "x".join(map(str, shapes[1]))
    return " ".join("x".join(map(str, s)) for s in shapes)


def _settings_label(op: str, kw) -> str:
    """The op's keywords that change its work, in a few words ("causal",
    "stride 2, padding same, groups 4"); '' for the defaults."""
    if op == "attention":
        parts = ["causal" if kw.get("causal") else ""]
        if kw.get("scale") is not None:
            parts.append(f"scale {kw['scale']:g}")
    elif op in ("conv2d", "conv1d"):
        parts = [
            f"{key} {kw[key]}"
            for key, default in (
                ("stride", 1),
                ("padding", 0),
                ("dilation", 1),
                ("groups", 1),
            )
            if key in kw and kw[key] != default
        ]
        plain = "NCHW" if op == "conv2d" else "NCL"
        if kw.get("layout", plain) != plain:
            parts.append(kw["layout"])
    else:
        parts = []
    return ", ".join(p for p in parts if p)


def _as_f64(x):
    return (
        x.dequantize().astype(np.float64)
        if isinstance(x, QTensor)
        else (np.asarray(x, dtype=np.float64))
    )


def _scored(out, kw):
    """The values an output stands for: an int8 result of out_scale is
    (q - out_zero_point) * out_scale, compared with the float reference."""
    if kw.get("out_scale") is None:
        return out
    z = kw.get("out_zero_point") or 0
    return (np.asarray(out, np.float64) - z) * float(np.float32(kw["out_scale"]))


def _reference(op: str, args, kw):
    """The fp64 NumPy answer for the same inputs (QTensors dequantized)."""
    if op == "matmul":
        out = np.matmul(_as_f64(args[0]), _as_f64(args[1]))
        bias = kw.get("bias")
        return out if bias is None else out + _as_f64(bias)
    if op == "attention":
        q, k, v = (_as_f64(a) for a in args[:3])
        names = ("causal", "scale", "mask", "window", "softcap", "kv_lengths")
        return reference.attention(q, k, v, **{n: kw[n] for n in names if n in kw})
    x, w = _as_f64(args[0]), _as_f64(args[1])
    bias = args[2] if len(args) > 2 else kw.get("bias")
    if op == "conv1d":
        return _reference_conv1d(x, w, bias, kw)
    layout = kw.get("layout", "NCHW")
    if layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    stride = _pair(kw.get("stride", 1), "stride", 1)
    dilation = _pair(kw.get("dilation", 1), "dilation", 1)
    pb, pe = conv_padding(
        w.shape[2], w.shape[3], stride, kw.get("padding", 0), dilation
    )
    out = reference.conv2d(
        x,
        w,
        None if bias is None else _as_f64(bias),
        stride=stride,
        pad=((pb[0], pe[0]), (pb[1], pe[1])),
        dilation=dilation,
        groups=kw.get("groups", 1),
    )
    return out.transpose(0, 2, 3, 1) if layout == "NHWC" else out


def _reference_conv1d(x, w, bias, kw):
    """conv1d's fp64 answer (reference.conv1d), x and w already fp64; the
    padding as conv1d reads it (an int pads both ends, "same" puts the odd
    extra tap at the end)."""
    layout = kw.get("layout", "NCL")
    if layout == "NLC":
        x = x.transpose(0, 2, 1)
    stride, dilation = kw.get("stride", 1), kw.get("dilation", 1)
    padding = kw.get("padding", 0)
    pb, pe = conv_padding(
        1,
        w.shape[2],
        (1, stride),
        padding if isinstance(padding, str) else (0, padding),
        (1, dilation),
    )
    out = reference.conv1d(
        x,
        w,
        None if bias is None else _as_f64(bias),
        stride=stride,
        pad=(pb[1], pe[1]),
        dilation=dilation,
        groups=kw.get("groups", 1),
    )
    return out.transpose(0, 2, 1) if layout == "NLC" else out


def _originals(args):
    """args with each QTensor replaced by the floats it was quantized from,
    and a note; None when one of them is unknown."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, QTensor):
            src = a.source()
            if src is None:
                why = (
                    "made from integers"
                    if a.sqnr_db is None
                    else "whose floats are no longer held, or were changed"
                )
                return None, f"operand {i} is a QTensor {why}"
            out.append(src)
        else:
            out.append(a)
    return out, "against the floats the QTensors were quantized from"


class _Flush:
    """Evicts the caches before a cold call: reads a buffer of twice the
    last-level cache (64 MiB when its size is unknown). Reading, not writing,
    leaves clean lines, so no write-backs fall into the timed call."""

    def __init__(self, llc: int):
        n = max(2 * llc, 64 << 20) // 8
        self.buf = np.ones(n, np.float64)

    def __call__(self) -> None:
        self.buf.sum()


def measure(
    op,
    *args,
    device="cpu",
    precision=None,
    repeats=None,
    warmup=None,
    min_time: float = 0.2,
    accuracy: bool = True,
    cache: str = "hot",
    ops: float | None = None,
    label: str | None = None,
    bytes: float | None = None,
    expected=None,
    **kw,
) -> Measurement:
    """Time ``op(*args, device=device, precision=precision, **kw)``.

    One warm-up call (plan creation is reported apart, as ``plan_s``), or
    ``warmup`` calls; then ``repeats`` calls, or as many as fit in
    ``min_time`` seconds of calls (at least 3). ``cache="hot"`` runs them
    back to back (a working set that fits the last-level cache stays
    there); ``cache="cold"`` reads a buffer of twice the last-level cache
    before every timed call, so operands come from memory: use it for
    memory-bound shapes such as decode GEMVs. With ``accuracy`` the result
    is compared with an fp64 NumPy reference of the inputs, and of the
    original floats of QTensor operands. Before the first figure of a
    (device, precision) a canary checks the device computes in that format
    (xpuops.canary). Returns a Measurement; ``.explain()`` says why the
    figure is what it is. ValueError for a problem with no operations (a
    zero-size dimension): there is nothing to time.

    ``op`` may also be any callable (NumPy, PyTorch, your own kernel) with
    its work declared: ``measure(lambda: a @ b, ops=2*M*N*K,
    precision="fp32", label="numpy")``. It is timed the same way (warm-up,
    repeats, cache) and its row shares a table with xpuops' own
    (``measure_callable``). ``expected``: the fp64 answer for these inputs
    when already computed (compare() computes it once for all its rows)."""
    if cache not in ("hot", "cold"):
        raise ValueError(f"cache must be 'hot' or 'cold', got {cache!r}")
    if op not in OPS:
        if callable(op) and ops is not None:
            return measure_callable(
                op,
                *args,
                ops=ops,
                precision=precision,
                label=label,
                bytes=bytes,
                expected=expected,
                repeats=repeats,
                warmup=warmup,
                min_time=min_time,
                cache=cache,
                **kw,
            )
        raise TypeError(
            "op must be xpuops.matmul, xpuops.conv2d, xpuops.conv1d or "
            "xpuops.attention, or any "
            "callable given with ops= (its operation count), precision= and "
            f"label=; got {op!r} without ops="
        )
    if ops is not None or label is not None or bytes is not None:
        raise TypeError(
            "ops=, label= and bytes= describe a callable of your own; "
            f"xpuops.{OPS[op]} counts its own"
        )
    name = OPS[op]
    operands = [_operand(a, f"arg{i}") for i, a in enumerate(args[:3]) if a is not None]
    precision = (
        _default_precision(*operands)
        if precision is None
        else check_precision(precision)
    )
    cls = matmul_shape_class(*operands[:2]) if name == "matmul" else 0
    dev = resolve(device, precision, cls)
    call_kw = dict(kw, device=dev.name, precision=precision)

    t0 = time.perf_counter()
    out = op(*args, **call_kw)
    first = time.perf_counter() - t0
    info = last_info()
    if not info.get("ops"):
        raise ValueError(
            f"measure: {name} {_shape_label(name, args)} has no operations to "
            "time (a dimension is zero); give it a non-empty problem"
        )
    plan_s = info["plan_s"]
    verdict = canary(dev.name, precision) if name in OPS.values() else None
    # the fp64 reference runs on NumPy's own BLAS, whose threads spin for
    # tens of ms after a call and would steal the cores being timed; one
    # thread for it leaves nothing spinning
    errors = errors_total = None
    total_note = ""
    if accuracy:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            out = _scored(out, kw)
            if expected is None:
                expected = _reference(name, args, kw)
            errors = reference.errors(expected, out)
            if any(isinstance(a, QTensor) for a in args):
                originals, total_note = _originals(args)
                if originals is not None:
                    errors_total = reference.errors(
                        _reference(name, originals, kw), out
                    )
            else:
                errors_total = errors
                total_note = "the inputs are the original floats"
    llc = llc_bytes()
    flush = _Flush(llc) if cache == "cold" else None
    for _ in range(1 if warmup is None else warmup):
        op(*args, **call_kw)
    kernels, walls, preps = [], [], []
    spent = 0.0
    while True:
        if flush is not None:
            flush()
        t = time.perf_counter()
        out = op(*args, **call_kw)
        dt = time.perf_counter() - t
        walls.append(dt)
        spent += dt
        info = last_info()
        kernels.append(info["kernel_s"])
        preps.append(info["prepare_s"])
        n = len(walls)
        if repeats is not None:
            if n >= repeats:
                break
        elif (n >= 3 and spent >= min_time) or n >= 10000:
            break
    best = min(kernels)
    modeled = bool(info.get("modeled"))
    source = "modeled" if modeled else "measured"
    emulation = float(np.median(walls)) if modeled else None
    if modeled:  # a model has no host overhead to add: its call time is its
        walls = list(kernels)  # figure; the emulator's own time is apart
    where = f"{name} on {dev.name}"
    return Measurement(
        op=name,
        shape=_shape_label(name, args),
        device=dev.name,
        backend=dev.backend,
        kind=dev.kind,
        precision=precision,
        support=dev.precisions[precision],
        impl=info["impl"],
        ops=info["ops"],
        bytes=info["bytes"],
        kernel_s=kernels,
        wall_s=walls,
        first_call_s=first,
        plan_s=plan_s,
        prepare_s=float(np.median(preps)),
        throughput=Throughput(info["ops"] / best, precision, source, where),
        throughput_e2e=Throughput(
            info["ops"] / float(np.median(walls)),
            precision,
            source,
            f"{where}, median whole call",
        ),
        throughput_call=Throughput(
            info["ops"] / min(walls), precision, source, f"{where}, whole call"
        ),
        peak=dev.peak.get(precision),
        errors=errors,
        errors_total=errors_total,
        total_note=total_note,
        quantized_inputs=any(isinstance(a, QTensor) for a in args),
        source=source,
        emulation_s=emulation,
        cache=cache,
        llc_bytes=llc,
        canary=verdict,
        timing=info.get("timing", "wall"),
        settings=_settings_label(name, kw),
    )


@dataclass(frozen=True)
class Peer:
    """Another library's way of doing compare()'s op, to share its table:
    ``Peer(lambda: a @ b, precision="fp32", label="numpy")``. ``fn(*args)``
    must compute the same result as the op; ``ops`` defaults to the op's own
    count (a MAC is 2), ``bytes`` to the operands and result as given. Its
    result is checked against compare()'s fp64 answer (SQNR)."""

    fn: object
    precision: str
    label: str
    ops: float | None = None
    bytes: float | None = None
    args: tuple = ()
    kind: str = "cpu"


def measure_callable(
    fn,
    *args,
    ops: float,
    precision,
    label: str | None = None,
    bytes: float | None = None,
    op: str = "custom",
    shape: str = "",
    kind: str = "cpu",
    expected=None,
    repeats=None,
    warmup=None,
    min_time: float = 0.2,
    cache: str = "hot",
    **kw,
) -> Measurement:
    """Time ``fn(*args, **kw)``, a callable of your own (NumPy, PyTorch, ...)
    that does ``ops`` operations (counted as xpuops counts: a MAC is 2) in
    ``precision``, as measure() times xpuops' ops: ``warmup`` calls (1),
    then ``repeats`` calls or as many as fit in ``min_time`` seconds (at
    least 3), caches flushed before each for ``cache="cold"``. The row is
    labelled ``label`` (default: the callable's name) with backend "peer";
    there is no separate kernel time, so kernel and call times are the same
    whole calls. ``bytes``: the bytes it moves, for the roofline (unknown:
    not drawn there). ``expected``: an fp64 answer to compute its SQNR
    against (compare() passes its own)."""
    precision = check_precision(precision)
    if cache not in ("hot", "cold"):
        raise ValueError(f"cache must be 'hot' or 'cold', got {cache!r}")
    if isinstance(ops, bool) or not isinstance(ops, (int, float, np.integer)):
        raise TypeError(f"ops must be a number of operations, got {ops!r}")
    if not ops > 0 or not math.isfinite(ops):
        raise ValueError(
            f"ops must be the positive, finite number of operations one call "
            f"does (a multiply-accumulate is 2), got {ops!r}"
        )
    if bytes is not None and (isinstance(bytes, bool) or not bytes >= 0):
        raise ValueError(f"bytes must be a number >= 0, got {bytes!r}")
    if label is None:
        label = getattr(fn, "__name__", type(fn).__name__)
        label = "peer" if label == "<lambda>" else label
    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty string, got {label!r}")
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    first = time.perf_counter() - t0
    errors = None
    if expected is not None:
        from threadpoolctl import threadpool_limits

        got = out.numpy() if hasattr(out, "numpy") and callable(out.numpy) else out
        with threadpool_limits(limits=1, user_api="blas"):
            errors = reference.errors(
                np.asarray(expected, np.float64), np.asarray(got, np.float64)
            )
    llc = llc_bytes()
    flush = _Flush(llc) if cache == "cold" else None
    for _ in range(1 if warmup is None else warmup):
        fn(*args, **kw)
    walls = []
    spent = 0.0
    while True:
        if flush is not None:
            flush()
        t = time.perf_counter()
        fn(*args, **kw)
        dt = time.perf_counter() - t
        walls.append(dt)
        spent += dt
        n = len(walls)
        if repeats is not None:
            if n >= repeats:
                break
        elif (n >= 3 and spent >= min_time) or n >= 10000:
            break
    ops = float(ops)
    where = f"{label} (your callable)"
    best = Throughput(ops / min(walls), precision, "measured", where)
    return Measurement(
        op=op,
        shape=shape,
        device=label,
        backend="peer",
        kind=kind,
        precision=precision,
        support="peer",
        impl=f"{label}: {getattr(fn, '__qualname__', type(fn).__name__)}",
        ops=ops,
        bytes=float(bytes or 0),
        kernel_s=list(walls),
        wall_s=walls,
        first_call_s=first,
        plan_s=0.0,
        prepare_s=0.0,
        throughput=best,
        throughput_e2e=Throughput(
            ops / float(np.median(walls)), precision, "measured", where
        ),
        throughput_call=best,
        peak=None,
        errors=errors,
        errors_total=errors,
        total_note="" if errors else "no reference answer was given",
        cache=cache,
        llc_bytes=llc,
        timing="wall",
    )


def _explain(m: Measurement, bandwidth: float | None):
    if m.backend == "peer":
        return [
            str(m) + ".",
            f"{m.device} is your own callable, timed as xpuops' ops are (whole "
            "calls, best of the repeats); xpuops knows nothing of its device or "
            "peak, so it cannot say what bounds it.",
        ]
    dev = resolve(m.device)
    lines = [str(m) + "."]
    if m.canary is not None and not m.canary.ok:
        lines.append(
            f"Careful: {m.device} does not compute {m.precision} as labelled. "
            f"The precision canary found: {'; '.join(m.canary.findings)}. The "
            f"figure is that of {m.canary.computes}."
        )
    if m.source == "modeled":
        lines.append(
            f"Every time here comes from the simulator's model ({m.impl}), not "
            f"from hardware; the emulator itself took {m.emulation_s * 1e3:.2f} "
            "ms of this machine's time to compute the bit-exact result."
        )
    if m.peak is not None:
        lines.append(f"{m.peak.source.capitalize()} peak: {m.peak} = {m.peak.detail}.")
    bw_word = "rated" if dev.simulated else "measured"
    bw = bandwidth or dev.bandwidth
    if bw is None and dev.kind == "cpu":
        bw = measure_bw(m.device)
    if m.peak is not None and bw:
        ridge = m.peak.ops_per_s / bw
        roof = min(m.peak.ops_per_s, bw * m.intensity)
        reached = m.throughput.ops_per_s / roof
        if m.intensity < ridge:
            sentence = (
                f"Memory-bound: {m.intensity:.2f} operations per byte is below "
                f"this device's ridge point of {ridge:.0f} ({m.peak} / "
                f"{bw / 1e9:.1f} GB/s {bw_word}, a cold figure), so memory can "
                f"feed at most {Throughput(roof, m.precision)} here; "
            )
            if reached > 1.0 and m.source == "measured":
                sentence += (
                    f"this run reached {reached:.0%} of that, which memory cannot "
                    f"do: the operands came from cache ({m.cache_note}). "
                    + (
                        "Measure with cache='cold' for the figure a model whose "
                        "weights do not fit the cache gets."
                        if m.cache == "hot"
                        else "The flush did not evict everything (a private "
                        "cache of another core, or a working set this small)."
                    )
                )
            else:
                sentence += (
                    f"this run reached {reached:.0%} of that ({m.cache_note}). A "
                    "narrower format moves fewer bytes: that, not the TOPS "
                    "figure, is what speeds this up."
                )
            lines.append(sentence)
        else:
            lines.append(
                f"Compute-bound: {m.intensity:.0f} operations per byte is above "
                f"the ridge point of {ridge:.0f}, so the ceiling is the peak; "
                f"this run's kernel reached {m.pct_of_peak:.0%} of it."
            )
    lines += _call_lines(m)
    if m.kernel_median_s < 50e-6 and m.source == "measured":
        lines.append(
            f"The kernel takes only {m.kernel_median_s * 1e6:.1f} us: at this size "
            "the fixed cost per call (dispatch, argument checks) weighs as much "
            "as the arithmetic; give each call more work."
        )
    if m.support == "emulated":
        lines.append(
            f"{dev.name} has no native {m.precision} arithmetic: {m.impl}. "
            "It runs at the speed of the format it is widened to."
        )
    fp32 = dev.peak.get("fp32")
    if m.precision != "fp32" and m.peak is not None and fp32 is not None:
        ratio = m.peak.ops_per_s / fp32.ops_per_s
        if ratio <= 1.01:
            lines.append(
                f"This device's widest {m.precision} instruction is no faster "
                f"than its FP32 FMA ({m.peak.detail}), so {m.precision} cannot "
                "beat fp32 on compute here."
            )
        else:
            lines.append(
                f"On paper {m.precision} is {ratio:.0f}x fp32 here ({m.peak} vs "
                f"{fp32}); these count different operations, so the ratio is "
                "of rates, not of work done."
            )
    elif m.precision in ("int8", "int4") and fp32 is not None and m.peak is None:
        lines.append(
            f"This CPU has no VNNI or AMX: {m.precision} has no instruction "
            "faster than fp32's, which is why it is not faster."
        )
    if m.errors:
        bits = m.errors["sqnr_db"] / 6.02
        text = (
            f"Accuracy: SQNR {m.errors['sqnr_db']:.1f} dB against fp64 (about "
            f"{bits:.0f} correct bits), relative error {m.errors['rel_fro']:.2e}"
        )
        if not m.quantized_inputs:
            text += " — quantizing or rounding the inputs included."
        elif m.errors_total:
            text += (
                " against the dequantized inputs (the kernel's own error); "
                f"{m.errors_total['sqnr_db']:.1f} dB against the original floats, "
                "which is what the result is worth: quantizing the inputs cost "
                "the difference."
            )
        else:
            text += (
                " against the dequantized inputs only: the kernel's own error. "
                f"The total against the original floats is unknown: {m.total_note}."
            )
        lines.append(text)
    if m.noisy:
        lines.append(
            f"{m.noise_note}: this figure is not one number. Something else "
            "ran on these cores, or the clock changed; rerun on an idle "
            "machine before trusting it."
        )
    return lines


def _call_lines(m: Measurement) -> list:
    """The call rate beside the kernel rate, and why they differ."""
    if m.source != "measured":
        return []
    call, kernel = m.call_min_s, m.kernel_min_s
    outside = 1 - kernel / call if call > 0 else 0.0
    lines = [
        f"A whole call takes {call * 1e3:.3f} ms ({m.throughput_call}); the kernel "
        f"alone {kernel * 1e3:.3f} ms ({m.throughput}). Compare precisions by "
        "the call rate: it is what a user's call gets."
    ]
    if outside <= 0.25:
        return lines
    why = []
    if m.precision in ("int8", "int4") and not m.quantized_inputs:
        why.append(
            "quantizing the float inputs on every call (activations and weights)"
        )
    elif m.precision in ("int8", "int4"):
        why.append("argument handling and copies (the inputs are QTensors already)")
    elif m.precision not in ("fp32", "fp64"):
        why.append(f"converting the inputs to {m.precision}")
    else:
        why.append("argument handling, output allocation and copies")
    fix = (
        "Quantize the weights once with xpuops.quantize() and pass the QTensor; "
        "activations are quantized per call in any dynamic int8 scheme."
        if m.precision in ("int8", "int4") and not m.quantized_inputs
        else "Pass arrays already in the operand format to skip the conversion."
        if m.precision not in ("fp32", "fp64", "int8", "int4")
        else "Give each call more work to amortise it."
    )
    lines.append(
        f"{outside:.0%} of each call is spent outside the kernel (preparing the "
        f"inputs took {m.prepare_s * 1e3:.3f} ms): {', '.join(why)}. {fix}"
    )
    return lines

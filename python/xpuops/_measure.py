"""measure(): time one op on one device in one precision, honestly, and say
why the figure is what it is (DESIGN.md s3)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import reference
from ._devices import resolve
from ._ops import (
    _default_precision,
    _operand,
    _pair,
    attention,
    conv2d,
    conv_padding,
    last_info,
    matmul,
)
from ._precision import check_precision
from ._quant import QTensor
from ._throughput import Throughput

OPS = {matmul: "matmul", conv2d: "conv2d", attention: "attention"}


@dataclass
class Measurement:
    """One op on one device in one precision, measured in this process.

    Times are seconds. ``kernel_s``: the backend's own run per repeat (device
    events where it has them); ``wall_s``: the whole call per repeat,
    quantization, conversion and copies included. ``throughput`` uses the
    best kernel time, ``throughput_e2e`` the median call. ``errors``: SQNR
    (dB), relative Frobenius and max abs error against an fp64 NumPy
    reference, or None when accuracy was not asked for."""

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
    #: where kernel_s came from: "events" (the device's own event times),
    #: "wall" (a host clock around the run) or "modeled"
    timing: str = "wall"

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
    def spread(self) -> float:
        """(p90 - p10) / median of the kernel times: the run-to-run noise."""
        k = np.asarray(self.kernel_s)
        return float((np.percentile(k, 90) - np.percentile(k, 10)) / np.median(k))

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
        from .chips import get

        c = get(chip)
        return self.throughput / c.throughput

    def explain(self, bandwidth: float | None = None) -> str:
        """Why the figure is what it is, in plain words: compute- or memory-
        bound against this device's roofline, the share of time outside the
        kernel, dispatch latency, emulated formats, and how the precision's
        peak compares with fp32's."""
        return "\n".join(_explain(self, bandwidth))

    def __str__(self) -> str:
        pct = f", {self.pct_of_peak:.0%} of peak" if self.pct_of_peak else ""
        if self.source == "modeled":
            pct += ", MODELED (not measured)"
        acc = f", SQNR {self.errors['sqnr_db']:.1f} dB" if self.errors else ""
        return (
            f"{self.op} {self.shape} on {self.device} ({self.precision}, "
            f"{self.support}): {self.throughput} in "
            f"{self.kernel_min_s * 1e3:.3f} ms{pct}{acc}"
        )

    __repr__ = __str__


def _shape_label(op: str, args) -> str:
    shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
    if op == "matmul" and len(shapes) >= 2:
        a, b = shapes[0], shapes[1]
        batch = a[:-2] if len(a) > 2 else ()
        m = a[-2] if len(a) > 1 else 1
        return "x".join(map(str, (*batch, m, a[-1], b[-1])))
    return " ".join("x".join(map(str, s)) for s in shapes)


def _as_f64(x):
    return (
        x.dequantize().astype(np.float64)
        if isinstance(x, QTensor)
        else (np.asarray(x, dtype=np.float64))
    )


def _reference(op: str, args, kw):
    """The fp64 NumPy answer for the same inputs (QTensors dequantized)."""
    if op == "matmul":
        return np.matmul(_as_f64(args[0]), _as_f64(args[1]))
    if op == "attention":
        q, k, v = (_as_f64(a) for a in args[:3])
        return reference.attention(
            q, k, v, causal=kw.get("causal", False), scale=kw.get("scale")
        )
    x, w = _as_f64(args[0]), _as_f64(args[1])
    bias = args[2] if len(args) > 2 else kw.get("bias")
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


def measure(
    op,
    *args,
    device="cpu",
    precision=None,
    repeats=None,
    warmup=None,
    min_time: float = 0.2,
    accuracy: bool = True,
    **kw,
) -> Measurement:
    """Time ``op(*args, device=device, precision=precision, **kw)``.

    One warm-up call (plan creation is reported apart, as ``plan_s``), or
    ``warmup`` calls; then ``repeats`` calls, or as many as fit in
    ``min_time`` seconds (at least 3). With ``accuracy`` the result is
    compared with an fp64 NumPy reference of the same inputs. Returns a
    Measurement; ``.explain()`` says why the figure is what it is."""
    if op not in OPS:
        raise TypeError(
            f"op must be xpuops.matmul, xpuops.conv2d or xpuops.attention, got {op!r}"
        )
    name = OPS[op]
    operands = [_operand(a, f"arg{i}") for i, a in enumerate(args[:3]) if a is not None]
    precision = (
        _default_precision(*operands)
        if precision is None
        else check_precision(precision)
    )
    dev = resolve(device, precision)
    call_kw = dict(kw, device=dev.name, precision=precision)

    t0 = time.perf_counter()
    out = op(*args, **call_kw)
    first = time.perf_counter() - t0
    plan_s = last_info()["plan_s"]
    # the fp64 reference runs on NumPy's own BLAS, whose threads spin for
    # tens of ms after a call and would steal the cores being timed; one
    # thread for it leaves nothing spinning
    errors = None
    if accuracy:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            errors = reference.errors(_reference(name, args, kw), out)
    for _ in range(1 if warmup is None else warmup):
        op(*args, **call_kw)
    kernels, walls, preps = [], [], []
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        out = op(*args, **call_kw)
        walls.append(time.perf_counter() - t)
        info = last_info()
        kernels.append(info["kernel_s"])
        preps.append(info["prepare_s"])
        n = len(walls)
        if repeats is not None:
            if n >= repeats:
                break
        elif (n >= 3 and time.perf_counter() - start >= min_time) or n >= 10000:
            break
    best = min(kernels)
    modeled = bool(info.get("modeled"))
    source = "modeled" if modeled else "measured"
    emulation = float(np.median(walls)) if modeled else None
    if modeled:  # a model has no host overhead to add: its call time is its
        walls = list(kernels)  # figure; the emulator's own time is apart
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
        throughput=Throughput(
            info["ops"] / best, precision, source, f"{name} on {dev.name}"
        ),
        throughput_e2e=Throughput(
            info["ops"] / float(np.median(walls)),
            precision,
            source,
            f"{name} on {dev.name}, end to end",
        ),
        peak=dev.peak.get(precision),
        errors=errors,
        quantized_inputs=any(isinstance(a, QTensor) for a in args),
        source=source,
        emulation_s=emulation,
        timing=info.get("timing", "wall"),
    )


def _explain(m: Measurement, bandwidth: float | None):
    dev = resolve(m.device)
    lines = [str(m) + "."]
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
        from ._peaks import bandwidth as measure_bw

        bw = measure_bw(m.device)
    if m.peak is not None and bw:
        ridge = m.peak.ops_per_s / bw
        roof = min(m.peak.ops_per_s, bw * m.intensity)
        reached = m.throughput.ops_per_s / roof
        if m.intensity < ridge:
            lines.append(
                f"Memory-bound: {m.intensity:.2f} operations per byte is below "
                f"this device's ridge point of {ridge:.0f} ({m.peak} / "
                f"{bw / 1e9:.1f} GB/s {bw_word}), so memory can feed at most "
                f"{Throughput(roof, m.precision)} here; this run reached "
                f"{reached:.0%} of that. A narrower format moves fewer bytes: "
                "that, not the TOPS figure, is what speeds this up."
            )
        else:
            lines.append(
                f"Compute-bound: {m.intensity:.0f} operations per byte is above "
                f"the ridge point of {ridge:.0f}, so the ceiling is the peak; "
                f"this run reached {m.pct_of_peak:.0%} of it."
            )
    outside = 1 - m.kernel_median_s / m.wall_median_s
    if outside > 0.25:
        lines.append(
            f"{outside:.0%} of each call is spent outside the kernel "
            f"(preparing inputs took {m.prepare_s * 1e3:.2f} ms: conversion"
            + (", quantization" if m.precision in ("int8", "int4") else "")
            + " and copies). "
            + (
                "The inputs are already QTensors: what remains is argument "
                "handling and copies."
                if m.quantized_inputs
                else "Quantize once with xpuops.quantize() and pass QTensors to "
                "skip it."
                if m.precision in ("int8", "int4")
                else "Pass arrays already in the operand format to skip it."
            )
        )
    if m.kernel_median_s < 50e-6:
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
        lines.append(
            f"Accuracy: SQNR {m.errors['sqnr_db']:.1f} dB against fp64 (about "
            f"{bits:.0f} correct bits), relative error {m.errors['rel_fro']:.2e}"
            + (
                " — against the dequantized inputs: the error of quantizing them "
                "happened before this call."
                if m.quantized_inputs
                else "."
            )
        )
    return lines

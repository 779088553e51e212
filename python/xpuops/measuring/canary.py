"""Precision canaries: before a (device, precision) pair is first reported, a
tiny matmul tells the format the device really computes in from narrower
ones (DESIGN.md s3, "Honest figures").

Libraries narrow silently: OpenVINO's CPU plugin runs f16 graphs in bf16 on
CPUs without FP16 arithmetic, GPU libraries default fp32 to TF32. A figure
labelled with the claimed format over a narrower computation is the kind of
number xpuops exists to avoid, so every measurement carries the verdict.

Three probes, each one call of ``matmul`` on the device under test:

- operands: a row of values that each candidate format (fp32, tf32, fp16,
  bf16, fp8) rounds differently, times the identity; the output is the
  operand values as the device rounded them, compared bit for bit with each
  format's round-to-nearest-even (and truncation);
- accumulator: 4100 ones summed: exact in f32 and wider, stuck at 2048 in
  an fp16 accumulator and at 256 in a bf16 one;
- integers (int8/int4): quantized operands whose exact s32 sums need more
  than 16 significant bits, so a float16/bf16 path cannot return them; raw
  accumulators (``out_dtype=int32``) where the device gives them.

The verdict is cached per (device, precision) for the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from ..api.devices import resolve
from ..api.errors import UnsupportedError
from ..api.ops import matmul
from ..api.precision import INTEGER, check_precision
from ..api.quant import QTensor

#: Probe values: each candidate format rounds this row differently (see
#: _round); all are finite in every candidate, so no NaN/Inf spreads
#: through the identity product.
_VALUES = np.array(
    [
        1 + 2**-20,  # fp32 keeps it; tf32, fp16, bf16, fp8 give 1
        1 + 2**-9,  # fp16 and tf32 keep it; bf16 and fp8 give 1
        1 + 2**-6,  # bf16 keeps it; fp8 gives 1
        1 + 2**-8 + 2**-12,  # bf16: 1 + 2^-7 rounded to nearest, 1 truncated
        1 + 2**-11 + 2**-14,  # fp16: 1 + 2^-10 rounded to nearest
        1 + 2**-4 + 2**-6,  # fp8: 1.125 rounded to nearest, 1 truncated
        3e-6,  # an fp16 subnormal (coarse), normal in bf16, 0 in fp8
        -3.0000002,
        0.1,
        -0.3,
        2.5,
        7.0,
        100.3,
        2**-6 + 2**-13,
        1e-3,
        -1.0,
    ],
    dtype=np.float32,
)
_ONES = 4100  # exact in f32; an fp16 accumulator stops at 2048, bf16 at 256

#: Formats a float precision may really be computed in, widest first.
_CANDIDATES = ("fp32", "tf32", "fp16", "bf16", "fp8")
_DTYPE = {
    "fp32": np.float32,
    "fp16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "fp8": ml_dtypes.float8_e4m3fn,
}
_CLAIM = {"fp64": "fp32", "fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}


def _tf32(x: np.ndarray) -> np.ndarray:
    """float32 rounded to TF32 (10 mantissa bits), to nearest even."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    lsb = (bits >> 13) & 1
    bits = ((bits + 0xFFF + lsb) >> 13) << 13
    return bits.astype(np.uint32).view(np.float32)


def _round(x: np.ndarray, fmt: str) -> np.ndarray:
    """x rounded to fmt (nearest even), back in float32."""
    if fmt == "tf32":
        return _tf32(x)
    return x.astype(_DTYPE[fmt]).astype(np.float32)


def _truncate(x: np.ndarray, mantissa_bits: int) -> np.ndarray:
    """x with its float32 mantissa cut to mantissa_bits (round toward 0)."""
    drop = 23 - mantissa_bits
    bits = x.astype(np.float32).view(np.uint32)
    return ((bits >> drop) << drop).astype(np.uint32).view(np.float32)


_MANTISSA = {"tf32": 10, "fp16": 10, "bf16": 7}


@dataclass(frozen=True)
class Canary:
    """The verdict of one (device, precision) probe.

    ``computes``: the format found (the precision itself when the device
    computes as labelled); ``ok``: True when that matches the label;
    ``findings``: each check that failed, in words; ``checks``: what was
    probed."""

    device: str
    precision: str
    computes: str
    ok: bool
    findings: tuple = ()
    checks: tuple = ()

    def __str__(self) -> str:
        if self.ok:
            return (
                f"{self.device} {self.precision}: computes {self.computes} as "
                f"labelled ({'; '.join(self.checks)})"
            )
        return (
            f"{self.device} {self.precision}: NOT as labelled, computes "
            f"{self.computes}: {'; '.join(self.findings)}"
        )


_cache: dict = {}
_lock = threading.Lock()


def canary(device, precision: str) -> Canary:
    """Probe whether ``device`` computes ``precision`` in that format and
    not a narrower one; cached per (device, precision) for the process.
    Raises UnsupportedError when the device does not run the precision."""
    precision = check_precision(precision)
    dev = resolve(device, precision)
    key = (dev.name, precision)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    if precision not in dev.precisions:
        raise UnsupportedError(f"{dev.name} does not run {precision}")
    if precision in INTEGER:
        verdict = _probe_integer(dev, precision)
    else:
        verdict = _probe_float(dev, precision)
    with _lock:
        _cache[key] = verdict
    return verdict


def _identify(got: np.ndarray, claim: str) -> str:
    """The format whose rounding of the probe values gives ``got``."""
    for fmt in _CANDIDATES:
        if np.array_equal(_round(_VALUES, fmt), got):
            return fmt
        if fmt in _MANTISSA and np.array_equal(_truncate(_VALUES, _MANTISSA[fmt]), got):
            return f"{fmt} (truncated, not rounded to nearest)"
    # a library that converts the claimed format once more (f16 inputs
    # computed in bf16, say) rounds twice
    first = _round(_VALUES, claim)
    for fmt in _CANDIDATES:
        if fmt != claim and np.array_equal(_round(first, fmt), got):
            return f"{fmt} ({claim} operands rounded again to {fmt})"
    return "an unidentified format"


def judge_float(precision: str, operands: np.ndarray, total: float) -> tuple:
    """(computes, findings) from the outputs of the two float probes: the
    probe row as the device rounded it, and its sum of 4100 ones. Pure, so
    the tests feed it the outputs of narrowing devices."""
    claim = _CLAIM.get(precision, precision)
    findings = []
    computes = precision
    got = np.asarray(operands, np.float32).reshape(-1)
    if precision == "fp64":
        want = _VALUES.astype(np.float64)
        if not np.array_equal(np.asarray(operands, np.float64).reshape(-1), want):
            computes = _identify(got, "fp32")
            findings.append(f"fp64 operands came back as {computes}")
    elif not np.array_equal(_round(_VALUES, claim), got):
        computes = _identify(got, claim)
        findings.append(
            f"{precision} operands came back rounded as {computes}, not as {claim}"
        )
    if total != _ONES:
        findings.append(
            f"a sum of {_ONES} ones gave {total:g}: the accumulator is "
            + (
                "fp16"
                if total == 2048
                else "bf16"
                if total == 256
                else "narrower than f32"
            )
        )
        if computes == precision:
            computes = f"{precision} with a narrow accumulator"
    return computes, findings


def _probe_float(dev, precision: str) -> Canary:
    dtype = np.float64 if precision == "fp64" else np.float32
    n = _VALUES.size
    a = _VALUES.astype(dtype).reshape(1, n)
    eye = np.eye(n, dtype=dtype)
    operands = matmul(a, eye, device=dev.name, precision=precision)
    ones = np.ones((1, _ONES), dtype)
    total = float(
        matmul(ones, np.ones((_ONES, 1), dtype), device=dev.name, precision=precision)[
            0, 0
        ]
    )
    computes, findings = judge_float(precision, operands, total)
    return Canary(
        dev.name,
        precision,
        computes,
        not findings,
        tuple(findings),
        ("operand rounding", "f32 accumulation"),
    )


def _int_operands(precision: str):
    """QTensors with unit scales whose exact s32 products need more than 16
    significant bits (a float16/bf16 path cannot return them)."""
    qmax = 127 if precision == "int8" else 7
    k, n = 96, 4
    rng = np.random.default_rng(12345)
    a = rng.integers(-127, 128, size=(2, k)).astype(np.int8)
    a[:, :64] = 127  # large sums: 127 * qmax * 64 and more
    b = rng.integers(-qmax, qmax + 1, size=(k, n)).astype(np.int8)
    b[:64, :] = qmax
    b[64, :] = 1  # an odd term keeps the sum off any power of two
    qa = QTensor(a, np.float32(1.0))
    qb = QTensor(b, np.ones(n, np.float32), axis=1, precision=precision)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    return qa, qb, exact


def _probe_integer(dev, precision: str) -> Canary:
    qa, qb, exact = _int_operands(precision)
    findings = []
    try:
        got = matmul(qa, qb, device=dev.name, precision=precision, out_dtype=np.int32)
        how = "raw s32 accumulators"
    except (UnsupportedError, ValueError):
        got = matmul(qa, qb, device=dev.name, precision=precision)
        how = "f32 results of unit scales"
    got = np.asarray(got, np.float64)
    exact_out = np.array_equal(got, exact.astype(np.float64))
    if not exact_out:
        worst = float(np.max(np.abs(got - exact)))
        if dev.exact_integer:
            findings.append(
                f"declares bit-exact integer accumulators, but {how} differ from "
                f"the exact sums by up to {worst:g}"
            )
        computes = f"{precision} (inexact: off by up to {worst:g})"
    else:
        computes = precision
    ok = not findings
    if not exact_out and not dev.exact_integer:
        # labelled inexact already (Device.exact_integer False): as labelled
        computes = f"{precision}, not bit-exact (as labelled)"
    return Canary(
        dev.name,
        precision,
        computes,
        ok,
        tuple(findings),
        (f"exact s32 sums ({how})",),
    )

"""Throughput: a rate bound to the precision it was counted in.

INT8 TOPS and FP32 TFLOPS count different operations; a Throughput prints
both the precision and the unit and refuses to be compared with one of
another precision (DESIGN.md s3)."""

from __future__ import annotations

from dataclasses import dataclass

from .precision import INTEGER, check_precision

SOURCES = ("measured", "theoretical", "rated", "modeled")
#: Formats vendors rate chips in that xpuops does not compute in (a rated
#: Throughput may carry them).
RATED_ONLY = ("fp4",)
#: Operand width in bits, for normalisations that assume rate ~ 1 / width.
BITS = {
    "fp64": 64,
    "fp32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "fp4": 4,
    "int8": 8,
    "int4": 4,
}


@dataclass(frozen=True)
class Throughput:
    """``ops_per_s`` operations per second in ``precision``; ``source`` says
    where the figure came from: measured, theoretical, rated or modeled;
    ``detail`` how (a formula, a device, an assumption)."""

    ops_per_s: float
    precision: str
    source: str = "measured"
    detail: str = ""

    def __post_init__(self):
        if self.precision not in RATED_ONLY:
            # stored canonical ("INT8" and "int8" are one precision)
            object.__setattr__(self, "precision", check_precision(self.precision))
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}")

    @property
    def unit(self) -> str:
        """'TOPS' for integer precisions, 'TFLOPS' for float ones."""
        return "TOPS" if self.precision in INTEGER else "TFLOPS"

    @property
    def tera(self) -> float:
        """The value in its unit (1e12 operations per second)."""
        return self.ops_per_s / 1e12

    def __str__(self) -> str:
        v = self.ops_per_s
        unit = self.unit
        tag = " (assumed)" if self.detail.startswith("ASSUMED") else ""
        for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
            if v >= scale or scale == 1e6:
                return (
                    f"{v / scale:.3g} {self.precision.upper()} {prefix}{unit[1:]}{tag}"
                )
        raise AssertionError("unreachable")

    def _check(self, other: Throughput) -> None:
        if not isinstance(other, Throughput):
            raise TypeError(f"cannot compare a Throughput with {type(other).__name__}")
        if other.precision != self.precision:
            raise TypeError(
                f"{self} and {other} count different operations "
                f"({self.precision} vs {other.precision}): an INT8 op and an "
                "FP32 op are not the same work, so their rates are not "
                "comparable without an assumption"
            )

    def __lt__(self, other):
        self._check(other)
        return self.ops_per_s < other.ops_per_s

    def __le__(self, other):
        self._check(other)
        return self.ops_per_s <= other.ops_per_s

    def __gt__(self, other):
        self._check(other)
        return self.ops_per_s > other.ops_per_s

    def __ge__(self, other):
        self._check(other)
        return self.ops_per_s >= other.ops_per_s

    def normalized(
        self, precision: str, assume: str = "2x per halving of operand width"
    ):
        """This figure re-expressed in another precision under a stated
        assumption; the result says it is assumed. The only assumption
        implemented is the vendors' rule of thumb: the same silicon does 2x
        the operations each time the operand width halves."""
        if assume != "2x per halving of operand width":
            raise ValueError(
                "the only normalisation implemented is "
                "assume='2x per halving of operand width'"
            )
        if precision not in RATED_ONLY:
            precision = check_precision(precision)
        factor = BITS[self.precision] / BITS[precision]
        return Throughput(
            self.ops_per_s * factor,
            precision,
            self.source,
            f"ASSUMED: {self} x {factor:g} ({assume})",
        )

    def __truediv__(self, other):
        if isinstance(other, (int, float)):
            return Throughput(self.ops_per_s / other, self.precision, self.source)
        self._check(other)
        return self.ops_per_s / other.ops_per_s

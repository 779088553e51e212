"""Precisions, their codes in the C core, and the dtypes that select them."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .. import _core

#: Precision names in the order of the C enum ``xo_precision`` (exported by
#: the core, never retyped here).
PRECISIONS = _core.PRECISIONS
CODE = {name: i for i, name in enumerate(PRECISIONS)}
INTEGER = frozenset({"int8", "int4"})

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOAT8 = np.dtype(ml_dtypes.float8_e4m3fn)

#: The precision a float array selects by default (its own format).
_BY_DTYPE = {
    np.dtype(np.float64): "fp64",
    np.dtype(np.float32): "fp32",
    np.dtype(np.float16): "fp16",
    BFLOAT16: "bf16",
    FLOAT8: "fp8",
}
FLOAT_DTYPES = tuple(_BY_DTYPE)


#: Spellings users type for each precision (matched case-insensitively,
#: with "-", "_" and spaces ignored); each canonical name stands for itself.
ALIASES = {
    "fp64": ("float64", "f64", "double"),
    "fp32": ("float32", "f32", "float", "single"),
    "bf16": ("bfloat16", "bfloat"),
    "fp16": ("float16", "f16", "half"),
    "fp8": ("float8", "f8", "e4m3", "fp8e4m3", "float8e4m3", "float8e4m3fn"),
    "int8": ("i8", "s8", "qint8", "w8a8"),
    "int4": ("i4", "s4", "qint4", "w4a8"),
}
_SPELLINGS = {
    alias: name for name, spellings in ALIASES.items() for alias in (name, *spellings)
}


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch not in "-_ ")


def closest(word: str, choices) -> str | None:
    """The choice closest to ``word`` (case ignored), or None when none is
    close: the "did you mean" of an unknown name."""
    import difflib

    lower = {str(c).lower(): c for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=0.6)
    return lower[close[0]] if close else None


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, else ''."""
    near = closest(word, choices)
    return f" (did you mean {near!r}?)" if near is not None else ""


def check_precision(precision) -> str:
    """The canonical name ("fp64" ... "int4") of a precision spelled in any
    of the usual ways: case-insensitive, "float32", "bfloat16", "INT8", or a
    float dtype (np.float32, ml_dtypes.bfloat16). ValueError naming the
    valid ones (and the closest) for anything else."""
    if isinstance(precision, str):
        name = _SPELLINGS.get(_key(precision))
        if name is not None:
            return name
    elif precision is not None and not isinstance(precision, (bool, int, float)):
        try:
            dt = np.dtype(precision)
        except TypeError:
            dt = None
        if dt is not None and dt in _BY_DTYPE:
            return _BY_DTYPE[dt]
    hint = ""
    if isinstance(precision, str):
        near = closest(_key(precision), _SPELLINGS)
        if near is not None:
            hint = f" (did you mean {_SPELLINGS[near]!r}?)"
    raise ValueError(
        f"unknown precision {precision!r}{hint}; valid precisions are "
        + ", ".join(PRECISIONS)
        + " (also spelled float64, float32, bfloat16, float16, float8, INT8 ...)"
    )


def check_precisions(precisions) -> list[str] | None:
    """A list of canonical precision names from a list, a single name (one
    item: ``"int8"``), a comma-separated string (``"fp32,int8"``) or None
    (kept: every precision)."""
    if precisions is None:
        return None
    if isinstance(precisions, str):
        precisions = [p for p in precisions.split(",") if p.strip()] or [precisions]
    elif not isinstance(precisions, (list, tuple, set, frozenset)):
        try:
            np.dtype(precisions)
            precisions = [precisions]
        except TypeError:
            precisions = list(precisions)
    out = []
    for p in precisions:
        name = check_precision(p.strip() if isinstance(p, str) else p)
        if name not in out:
            out.append(name)
    return out


def unit(precision: str) -> str:
    """TOPS for integer precisions, TFLOPS for float ones (DESIGN.md s3)."""
    return "TOPS" if precision in INTEGER else "TFLOPS"


def precision_of_dtypes(*dtypes: np.dtype) -> str:
    """The default precision for float operands: their common format."""
    common = dtypes[0]
    for dt in dtypes[1:]:
        common = np.result_type(common, dt)
    return _BY_DTYPE.get(np.dtype(common), "fp32")


def as_array(x, name: str) -> np.ndarray:
    """``x`` as an ndarray of a float, integer or boolean dtype, never
    copied or converted (so sizes and limits can be checked before any
    memory is spent). Complex, object, string and other dtypes raise
    TypeError."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name} cannot be converted to a numeric array: {e}") from e
    dt = arr.dtype
    if dt in FLOAT_DTYPES or dt.kind in "biu":
        return arr
    if dt.kind == "c":
        raise TypeError(
            f"{name} is complex ({dt}); xpuops computes on real numbers: pass "
            f"{name}.real, or split real and imaginary parts"
        )
    raise TypeError(
        f"{name} has dtype {dt}, which xpuops cannot compute with; pass "
        "float64, float32, float16, ml_dtypes.bfloat16 or "
        "ml_dtypes.float8_e4m3fn (or integers, taken as float64)"
    )


def float_dtype(arr: np.ndarray) -> np.dtype:
    """The float dtype ``to_float`` gives arr: its own, or float64 for
    integers and booleans (exact values)."""
    return arr.dtype if arr.dtype in FLOAT_DTYPES else np.dtype(np.float64)


def to_float(arr: np.ndarray, name: str) -> np.ndarray:
    """An array from ``as_array`` in its float dtype. Integers and booleans
    become float64; only the distinct elements of a broadcast (zero-stride)
    view are converted, so ``np.broadcast_to`` views stay free. MemoryError,
    naming the argument, when the copy cannot fit the memory available."""
    if arr.dtype in FLOAT_DTYPES:
        return arr
    index = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in arr.strides)
    distinct = arr[index]
    need = distinct.size * 8
    avail = _core.memory_available()
    if avail and need > avail:
        raise MemoryError(
            f"{name}: cannot allocate {need / 2**30:.1f} GiB to convert its "
            f"{arr.dtype} values to float64: only {avail / 2**30:.1f} GiB of "
            f"memory is available; pass {name} as a float array (float32 or "
            "narrower) or split the problem"
        )
    converted = distinct.astype(np.float64)
    if converted.shape == arr.shape:  # nothing broadcast: a plain copy
        return converted
    return np.broadcast_to(converted, arr.shape)


def as_float_array(x, name: str) -> np.ndarray:
    """``x`` as an ndarray of a supported float dtype, without copying when it
    already is one. Integers and booleans are exact values and become float64.
    Complex, object, string and other dtypes raise TypeError."""
    return to_float(as_array(x, name), name)

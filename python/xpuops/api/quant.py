"""Quantized tensors (DESIGN.md s2): QTensor and quantize()."""

from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass

import numpy as np

from .. import _core
from .precision import CODE, as_float_array, check_precision

# one token per QTensor: backends may keep forms derived from its (immutable)
# data under it, e.g. unpacked or reordered weights
_tokens = itertools.count(1)

# granularity codes of the C enum xo_qgranularity, exported by the core
_TENSOR, _AXIS, _GROUP = _core.Q_TENSOR, _core.Q_AXIS, _core.Q_GROUP
_QMAX = {"int8": 127, "int4": 7}


def _norm_axis(axis, ndim: int, what: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what} must be an int or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(
            f"{what}={axis} is out of range for a {ndim}-d tensor"
        )
    return int(axis) % ndim


def _default_group_axis(axis: int, ndim: int) -> int:
    # groups run along the reduction axis: K of b [..., K, N] (axis=-1), the
    # last axis otherwise (e.g. conv w [OC, C, KH, KW] with axis=0)
    return ndim - 2 if axis == ndim - 1 else ndim - 1


def _group_axis(axis: int, group_axis, ndim: int) -> int:
    """The axis groups run along: given, or K by default (see above)."""
    if ndim < 2:
        raise ValueError("group-wise scales need at least 2 dimensions")
    if group_axis is None:
        return _default_group_axis(axis, ndim)
    return _norm_axis(group_axis, ndim, "group_axis")


def _scale_shape(shape, axis, group_axis, group_size):
    if axis is None:
        return ()
    if group_size is None:
        return (shape[axis],)
    if (
        isinstance(group_size, bool)
        or not isinstance(group_size, (int, np.integer))
        or group_size <= 0
        or shape[group_axis] % group_size
    ):
        raise ValueError(
            f"group_size={group_size!r} must be a positive int that divides "
            f"dimension {shape[group_axis]} of axis {group_axis}"
        )
    ng = shape[group_axis] // group_size
    return (shape[axis], ng) if axis < group_axis else (ng, shape[axis])


@dataclass(frozen=True, slots=True)
class QParams:
    """A quantized operand's parameters as the core reads them, by name
    (csrc/python/module.c to_operand): the precision's code, the
    granularity code with its axes and group size, symmetric, the float32
    scales and int32 zero points (None when symmetric) flattened, and the
    QTensor's cache token."""

    precision: int
    granularity: int
    axis: int
    group_axis: int
    group_size: int
    symmetric: bool
    scale: np.ndarray
    zero_point: np.ndarray | None
    token: int


class QTensor:
    """Integer values with the scales (and zero points) that give them meaning:
    ``x ~= (data - zero_point) * scale``.

    - ``data``: int8 values, one per element (symmetric: in [-qmax, qmax];
      with zero points: int8, or uint8 as ``quantize(symmetric=False)``
      makes them); int4 values are kept unpacked in int8 (``packed()``
      gives two per byte).
    - ``scale``: float32; shape ``()`` per tensor, ``(shape[axis],)`` per
      axis, and for group-wise scales ``(shape[axis], n_groups)`` or
      ``(n_groups, shape[axis])``, in the order of the two axes.
    - ``zero_point``: int32 like ``scale`` (zeros when symmetric).
    - ``axis``: the axis whose slices have their own scale (None: per tensor);
      ``group_size``/``group_axis``: group-wise scales along group_axis.
    - ``sqnr_db``: the SQNR (dB) of ``dequantize()`` against the floats
      ``quantize()`` made it from: the error of quantizing alone (None for
      a QTensor built from integers, which has no float source:
      ``accuracy_note`` says so).

    A QTensor is immutable: its arrays are read-only (data given to the
    constructor is copied once), so that backends may cache what they derive
    from it, such as weights reordered for a kernel.
    """

    __slots__ = (
        "data",
        "scale",
        "zero_point",
        "axis",
        "group_size",
        "group_axis",
        "precision",
        "symmetric",
        "sqnr_db",
        "accuracy_note",
        "_token",
        "_source",
        "_source_sumsq",
        "_derived",
        "_frozen",
    )

    def __init__(
        self,
        data,
        scale,
        zero_point=None,
        *,
        axis=None,
        group_size=None,
        group_axis=None,
        precision="int8",
        _owned=False,  # quantize() hands over fresh arrays: no second copy
    ):
        if precision not in _QMAX:
            raise ValueError(
                f"QTensor precision must be 'int8' or 'int4', got {precision!r}"
            )
        data = np.asarray(data)
        symmetric = zero_point is None
        if data.dtype != np.int8 and not (not symmetric and data.dtype == np.uint8):
            raise TypeError(
                "QTensor data must be int8"
                + (" or uint8 (with zero points)" if not symmetric else "")
                + f", got {data.dtype}"
            )
        if axis is not None:
            axis = _norm_axis(axis, data.ndim, "axis")
        if group_size is not None:
            if axis is None:
                raise ValueError(
                    "group_size needs an axis (the axis with per-slice scales)"
                )
            group_axis = _group_axis(axis, group_axis, data.ndim)
            if group_axis == axis:
                raise ValueError("group_axis must differ from axis")
            if (
                isinstance(group_size, bool)
                or int(group_size) <= 0
                or data.shape[group_axis] % int(group_size)
            ):
                raise ValueError(
                    f"group_size={group_size} must be positive and "
                    f"divide dimension {data.shape[group_axis]} of "
                    f"axis {group_axis}"
                )
            group_size = int(group_size)
        else:
            group_axis = None
        shape = _scale_shape(data.shape, axis, group_axis, group_size)
        scale = np.asarray(scale, dtype=np.float32)
        if scale.size != int(np.prod(shape)):
            raise ValueError(
                f"scale has {scale.size} value(s); this layout needs shape "
                f"{shape} ({'one per tensor' if not shape else 'one per slice of axis'}"
                f"{', per group' if group_size else ''})"
            )
        scale = scale.reshape(shape)
        if zero_point is None:
            zero_point = np.zeros(shape, np.int32)
        zero_point = np.asarray(zero_point, dtype=np.int32).reshape(shape)
        if not _owned:  # quantize() output is in range by construction
            lo, hi = _qrange(precision, symmetric, data.dtype)
            if data.size and (data.min() < lo or data.max() > hi):
                raise ValueError(
                    f"QTensor {precision} values must lie in [{lo}, {hi}], got "
                    f"[{data.min()}, {data.max()}]"
                )
            if not symmetric and zero_point.size:
                if zero_point.min() < lo or zero_point.max() > hi:
                    raise ValueError(
                        f"zero_point must lie in [{lo}, {hi}] (the range of "
                        f"{data.dtype} {precision} values), got "
                        f"[{zero_point.min()}, {zero_point.max()}]"
                    )
        # private copies made read-only: what the token names cannot change
        if not _owned:
            data, scale, zero_point = (
                np.array(x, copy=True) for x in (data, scale, zero_point)
            )
        for x in (data, scale, zero_point):
            x.flags.writeable = False
        # read-only views of read-only arrays: a view's writeable flag cannot
        # be turned back on while its base is read-only
        data, scale, zero_point = (x.view() for x in (data, scale, zero_point))
        self.data, self.scale, self.zero_point = data, scale, zero_point
        self.axis, self.group_size, self.group_axis = axis, group_size, group_axis
        self.precision, self.symmetric = precision, symmetric
        self._token = next(_tokens)
        self.sqnr_db = None
        self.accuracy_note = (
            "built from integers: no float source, no quantization SQNR"
        )
        self._source, self._source_sumsq = None, None
        self._derived = {}
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name, value):
        # immutable: backends keep what they derive under the token (unpacked
        # or reordered weights), so new values need a new QTensor
        if getattr(self, "_frozen", False):
            raise AttributeError(
                f"QTensor is immutable: cannot set {name!r}; make a new one "
                "with xpuops.quantize() or QTensor(...)"
            )
        object.__setattr__(self, name, value)

    def __reduce__(self):
        # pickled as its values and layout (for processes and Dask workers):
        # a new token where it lands, and no link to the original floats
        # (a weak reference, which does not travel)
        zp = None if self.symmetric else self.zero_point
        layout = (self.axis, self.group_size, self.group_axis, self.precision)
        return (_unpickle_qtensor, (self.data, self.scale, zp, layout, self.sqnr_db))

    def _expanded(self, where: int) -> QTensor:
        """This QTensor with a unit axis inserted at ``where`` (conv1d as
        conv2d), made once and kept: the same values under one token from
        call to call, so what a backend prepared from it (reordered or
        packed weights) is found again instead of redone per call. Shares
        this QTensor's read-only arrays."""
        got = self._derived.get(("expanded", where))
        if got is None:
            axis = self.axis
            if axis is not None and axis >= where:
                axis += 1
            got = QTensor(
                np.expand_dims(self.data, where),
                self.scale,
                None if self.symmetric else self.zero_point,
                axis=axis,
                precision=self.precision,
                _owned=True,  # views of this one's checked, read-only arrays
            )
            object.__setattr__(got, "sqnr_db", self.sqnr_db)
            object.__setattr__(got, "accuracy_note", self.accuracy_note)
            self._derived[("expanded", where)] = got
        return got

    def _remember_source(self, original, floats) -> None:
        """Keep the quantization error against ``floats`` (the float32 values
        quantized) and a weak reference to the caller's ``original`` array,
        so a measurement can report its total error against the original
        floats for as long as the caller keeps them (and has not changed
        them: their sum of squares is checked)."""
        x = np.asarray(floats, np.float32)
        err = (self.dequantize() - x).reshape(-1)
        flat = x.reshape(-1)
        signal = float(np.dot(flat, flat))
        noise = float(np.dot(err, err))
        # set once, by quantize(), right after construction
        set_ = object.__setattr__
        set_(self, "accuracy_note", "sqnr_db: quantize() against its float32 input")
        set_(
            self,
            "sqnr_db",
            float("inf") if noise == 0 else float(10 * np.log10(signal / noise)),
        )
        if isinstance(original, np.ndarray):
            set_(self, "_source", weakref.ref(original))
            set_(self, "_source_sumsq", _sumsq(original))

    def source(self):
        """The float array this QTensor was quantized from, if the caller
        still holds it unchanged; else None (a QTensor keeps no copy)."""
        if self._source is None:
            return None
        x = self._source()
        if x is None or _sumsq(x) != self._source_sumsq:
            return None
        return x

    shape = property(lambda self: self.data.shape, doc="Shape of the tensor.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")

    def _broadcast_params(self):
        """scale and zero_point broadcastable against data."""
        nd = self.data.ndim
        if self.axis is None:
            return self.scale, self.zero_point
        view = [1] * nd
        if self.group_size is None:
            view[self.axis] = self.data.shape[self.axis]
            return self.scale.reshape(view), self.zero_point.reshape(view)
        # expand the group dimension to full length, then place both axes
        ga = self.group_axis
        gdim = 1 if self.axis < ga else 0  # where the groups are in scale
        s = np.repeat(self.scale, self.group_size, axis=gdim)
        z = np.repeat(self.zero_point, self.group_size, axis=gdim)
        view[self.axis] = self.data.shape[self.axis]
        view[ga] = self.data.shape[ga]
        return s.reshape(view), z.reshape(view)

    def dequantize(self) -> np.ndarray:
        """float32 values ``(data - zero_point) * scale`` (a new array)."""
        s, z = self._broadcast_params()
        q = self.data.astype(np.int32) - z
        return (q.astype(np.float32) * s).astype(np.float32)

    def packed(self) -> np.ndarray:
        """int4 values two per byte (uint8), element 2i in the low nibble of
        byte i, over the C-order flattened tensor; odd tails padded with 0."""
        if self.precision != "int4":
            raise ValueError("packed() is for int4 QTensors")
        flat = np.ascontiguousarray(self.data).reshape(-1)
        return _core.pack_int4(flat, self.data.dtype == np.uint8)

    def _qparams(self, axis_map=None) -> QParams:
        """What the core reads of this operand (by attribute name);
        axis_map renumbers axes for the view the core sees."""
        if self.axis is None:
            gran, axis, gaxis, gsize = _TENSOR, 0, 0, 0
        elif self.group_size is None:
            gran, axis, gaxis, gsize = _AXIS, self.axis, 0, 0
        else:
            gran, axis, gaxis, gsize = (
                _GROUP,
                self.axis,
                self.group_axis,
                self.group_size,
            )
        if axis_map is not None and gran != _TENSOR:
            axis, gaxis = axis_map(axis), axis_map(gaxis) if gran == _GROUP else 0
        return QParams(
            precision=CODE[self.precision],
            granularity=gran,
            axis=axis,
            group_axis=gaxis,
            group_size=gsize,
            symmetric=bool(self.symmetric),
            scale=np.ascontiguousarray(self.scale.reshape(-1), np.float32),
            zero_point=None
            if self.symmetric
            else np.ascontiguousarray(self.zero_point.reshape(-1), np.int32),
            token=self._token,
        )

    @classmethod
    def from_int(
        cls,
        data,
        scale,
        zero_point=None,
        axis=None,
        group_size=None,
        precision=None,
    ) -> QTensor:
        """Wrap existing integer values (e.g. an ONNX or PyTorch model's
        quantized weights) with their scales and zero points, exactly:

        - int8 data: int8 values; -128 is kept (with a zero point of 0 when
          none was given: xpuops' symmetric range is [-127, 127]).
        - uint8 data (precision int8): each value and zero point shifted by
          -128 to int8, so ``data - zero_point`` is unchanged (zero_point
          defaults to 0, as in ONNX, i.e. -128 after the shift).
        - int4, ``precision="int4"``: int8 data with one value per element
          in [-8, 7], or uint8 data packed two per byte (s4 nibbles, element
          2i in the low nibble, ONNX order) along the last axis, which then
          holds twice as many values.

        ``axis`` and ``group_size`` are as in :func:`quantize` (``scale`` and
        ``zero_point`` shaped accordingly). There are no floats behind these
        integers: ``sqnr_db`` is None and ``accuracy_note`` says why.
        """
        data = np.asarray(data)
        if data.dtype not in (np.int8, np.uint8):
            raise TypeError(
                f"from_int takes int8 or uint8 data, got {data.dtype}; "
                "quantize floats with xpuops.quantize()"
            )
        precision = _int_precision("int8" if precision is None else precision)
        qmax = _QMAX[precision]
        if axis is None and group_size is not None:
            raise ValueError(
                "group_size needs an axis (the axis with per-slice scales), "
                "e.g. QTensor.from_int(q, s, axis=1, group_size=128)"
            )
        if zero_point is not None:
            zero_point = np.asarray(zero_point)
            if zero_point.dtype.kind not in "iu":
                raise TypeError(f"zero_point must be integers, got {zero_point.dtype}")
            if zero_point.size and (
                zero_point.min() < -(1 << 15) or zero_point.max() > (1 << 15)
            ):
                raise ValueError(
                    f"zero_point values [{zero_point.min()}, {zero_point.max()}] "
                    "are outside any integer range of int8, uint8 or int4"
                )
            zero_point = zero_point.astype(np.int32)
        if precision == "int4" and data.dtype == np.uint8:
            if data.ndim == 0:
                raise ValueError("packed int4 data needs at least 1 dimension")
            flat = np.ascontiguousarray(data).reshape(-1)
            vals = _core.unpack_int4(flat, 2 * flat.size, False)
            data = vals.reshape(data.shape[:-1] + (2 * data.shape[-1],))
        elif data.dtype == np.uint8:
            if zero_point is None:
                zero_point = np.zeros((), np.int32)
            if zero_point.size and (zero_point.min() < 0 or zero_point.max() > 255):
                raise ValueError(
                    "zero_point of uint8 data must lie in [0, 255], got "
                    f"[{zero_point.min()}, {zero_point.max()}]"
                )
            data = (data.astype(np.int16) - 128).astype(np.int8)
            zero_point = zero_point - 128
        lo = -qmax - 1
        if data.size and (data.min() < lo or data.max() > qmax):
            raise ValueError(
                f"from_int: {precision} values must lie in [{lo}, {qmax}], got "
                f"[{data.min()}, {data.max()}]"
                + (
                    "; int4 values go one per int8 element in [-8, 7], or "
                    "packed two per byte as uint8"
                    if precision == "int4"
                    else ""
                )
            )
        if zero_point is None and data.size and data.min() < -qmax:
            zero_point = np.zeros((), np.int32)  # keep -128 / -8 exactly
        scale = np.asarray(scale, dtype=np.float32)
        if zero_point is not None:
            target = _scale_shape(
                data.shape,
                None if axis is None else _norm_axis(axis, data.ndim, "axis"),
                None
                if group_size is None
                else _group_axis(_norm_axis(axis, data.ndim, "axis"), None, data.ndim),
                group_size,
            )
            try:
                zero_point = np.broadcast_to(zero_point, target)
            except ValueError:
                raise ValueError(
                    f"zero_point has shape {zero_point.shape}; this layout needs "
                    f"{target} (like scale)"
                ) from None
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scale must be finite and positive")
        return cls(
            data,
            scale,
            zero_point,
            axis=axis,
            group_size=group_size,
            precision=precision,
        )

    def __repr__(self) -> str:
        how = (
            "per tensor"
            if self.axis is None
            else f"axis={self.axis}"
            + (f", group_size={self.group_size}" if self.group_size else "")
        )
        sym = "symmetric" if self.symmetric else "asymmetric"
        err = "" if self.sqnr_db is None else f", SQNR {self.sqnr_db:.1f} dB"
        return f"QTensor({self.precision}, shape={self.data.shape}, {how}, {sym}{err})"


def _int_precision(precision) -> str:
    """ "int8" or "int4" from any spelling check_precision takes ("INT8");
    ValueError for the float precisions and unknown names."""
    name = check_precision(precision)
    if name not in _QMAX:
        raise ValueError(f"precision must be 'int8' or 'int4', got {precision!r}")
    return name


def _qrange(precision, symmetric, dtype):
    """The stored values' range: symmetric [-qmax, qmax]; with zero points
    the whole signed or unsigned range of the precision."""
    qmax = _QMAX[precision]
    if symmetric:
        return -qmax, qmax
    return (0, 2 * qmax + 1) if np.dtype(dtype) == np.uint8 else (-qmax - 1, qmax)


def _sumsq(x) -> float:
    """Sum of squares in float64: a cheap check that an array is unchanged
    (NumPy's pairwise sum, not BLAS: the same bits whatever the threads)."""
    flat = np.asarray(x, np.float64).reshape(-1)
    return float(np.sum(flat * flat))


def _unpickle_qtensor(data, scale, zero_point, layout, sqnr_db):
    """A pickled QTensor back (QTensor.__reduce__): checked as any new one."""
    axis, group_size, group_axis, precision = layout
    q = QTensor(
        data,
        scale,
        zero_point,
        axis=axis,
        group_size=group_size,
        group_axis=group_axis,
        precision=precision,
    )
    if sqnr_db is not None:
        object.__setattr__(q, "sqnr_db", sqnr_db)
        object.__setattr__(
            q,
            "accuracy_note",
            "quantization SQNR kept from before pickling; the original floats "
            "did not travel",
        )
    return q


def quantize(
    x,
    precision: str = "int8",
    axis=None,
    group_size=None,
    symmetric: bool = True,
    scale=None,
    zero_point=None,
    *,
    group_axis=None,
) -> QTensor:
    """Quantize float ``x`` to a QTensor exactly as DESIGN.md section 2 says.

    Given ``scale`` (shaped as the QTensor's: ``()`` per tensor,
    ``(shape[axis],)`` per axis, ...) and optionally ``zero_point``, x is
    quantized with them as ONNX QuantizeLinear does: ``saturate(rint(x /
    scale) + zero_point)``, x / scale in float32, ties to even. The result
    is int8 over [-128, 127], or uint8 over [0, 255] when ``zero_point`` is
    a uint8 array (int4: [-8, 7] / [0, 15]); with neither a zero point nor
    ``symmetric=False`` it is symmetric, saturating at +-qmax (127, 7).

    ``axis`` is the axis whose slices get their own scale (ONNX
    QuantizeLinear / PyTorch quantize_per_channel); None means one scale for
    the tensor. For ``b [K, N]``, per output channel is ``axis=1``.
    ``group_size`` splits ``group_axis`` (default: K, i.e. axis -2 when
    ``axis`` is the last axis, else the last axis) into groups with their own
    scales. ``symmetric=False`` gives uint8 (u4 for int4) with zero points.
    x is rounded to float32; scale = max|x| / qmax (127 or 7; an all-zero
    slice gets scale 1); q = clip(rint(x / scale)), ties to even. NaN or Inf
    raise ValueError. The input is never modified.
    """
    precision = _int_precision(precision)
    original = x
    x = as_float_array(x, "x")
    if axis is None and group_size is not None:
        raise ValueError(
            "group_size needs an axis (the axis with per-slice "
            "scales), e.g. quantize(b, 'int4', axis=-1, "
            "group_size=128)"
        )
    if axis is None:
        gran, ax, gax, gs = _TENSOR, 0, 0, 0
    else:
        ax = _norm_axis(axis, x.ndim, "axis")
        gran, gax, gs = _AXIS, 0, 0
        if group_size is not None:
            gax = _group_axis(ax, group_axis, x.ndim)
            if isinstance(group_size, bool) or not isinstance(
                group_size, (int, np.integer)
            ):
                raise TypeError(f"group_size must be an int, got {group_size!r}")
            gran, gs = _GROUP, int(group_size)
    if scale is None and zero_point is not None:
        raise ValueError(
            "zero_point needs its scale: quantize(x, scale=..., zero_point=...)"
        )
    if scale is not None:
        q, scale, zp = _quantize_given(
            x, precision, gran, ax, gax, gs, symmetric, scale, zero_point
        )
    else:
        q, scale, zp = _core.quantize(
            x, CODE[precision], gran, ax, gax, gs, bool(symmetric)
        )
    qt = QTensor(
        q,
        scale,
        zp,
        axis=None if axis is None else ax,
        group_size=gs if gran == _GROUP else None,
        group_axis=gax if gran == _GROUP else None,
        precision=precision,
        _owned=True,
    )
    qt._remember_source(original, x)
    return qt


def _quantize_given(x, precision, gran, ax, gax, gs, symmetric, scale, zero_point):
    """quantize() with the caller's scale (and zero point): the core's
    QuantizeLinear (xo_quantize_given). Returns (q, scale, zero_point or
    None)."""
    shape = _scale_shape(
        x.shape,
        None if gran == _TENSOR else ax,
        gax if gran == _GROUP else None,
        gs if gran == _GROUP else None,
    )
    if isinstance(scale, QTensor) or isinstance(zero_point, QTensor):
        raise TypeError("scale and zero_point must be arrays or numbers")
    s = np.asarray(scale)
    if s.dtype.kind not in "fiu":
        raise TypeError(f"scale must be real numbers, got {s.dtype}")
    if s.shape != shape and s.size != math.prod(shape):
        raise ValueError(
            f"scale has shape {s.shape}; axis={None if gran == _TENSOR else ax}"
            f"{'' if gran != _GROUP else f', group_size={gs}'} needs {shape}"
        )
    s = np.array(s, dtype=np.float32).reshape(shape)
    qmax = _QMAX[precision]
    unsigned = False
    if zero_point is None and symmetric:
        lo, hi, z = -qmax, qmax, None
    else:
        z = np.asarray(0 if zero_point is None else zero_point)
        if z.dtype.kind not in "iu":
            raise TypeError(f"zero_point must be integers, got {z.dtype}")
        unsigned = z.dtype == np.uint8
        lo, hi = (0, 2 * qmax + 1) if unsigned else (-qmax - 1, qmax)
        try:
            z = np.broadcast_to(z, shape)
        except ValueError:
            raise ValueError(
                f"zero_point has shape {z.shape}; this layout needs {shape}"
            ) from None
        if z.size and (z.min() < lo or z.max() > hi):
            raise ValueError(
                f"zero_point must lie in [{lo}, {hi}] for "
                f"{'uint8' if unsigned else 'int8'} {precision} values, got "
                f"[{z.min()}, {z.max()}]"
            )
        z = np.array(z, dtype=np.int32)
    q = _core.quantize_given(
        x,
        CODE[precision],
        gran,
        ax,
        gax,
        gs,
        np.ascontiguousarray(s.reshape(-1)),
        None if z is None else np.ascontiguousarray(z.reshape(-1)),
        lo,
        hi,
        unsigned,
    )
    return q, s, z

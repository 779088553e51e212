"""matmul, conv2d and attention: argument checking with messages that name
the argument and the fix, then one call into the C core."""

from __future__ import annotations

import math

import numpy as np

from .. import _core
from .devices import check_supported, resolve
from .precision import (
    CODE,
    INTEGER,
    as_array,
    as_float_array,
    check_precision,
    float_dtype,
    precision_of_dtypes,
    to_float,
)
from .quant import _QMAX, QTensor


def last_info() -> dict:
    """What the last op on this thread did: prepare/plan/kernel seconds,
    whether it created its plan, native or emulated, ops, bytes, the
    implementation that ran, and ``timing``: where ``kernel_s`` came from
    ("events": the device's own event times, "wall": a host clock around
    the run, "modeled": a performance model). {} before the first op."""
    return _core.last_info()


_matmul_fast = _core.matmul_fast


def matmul_shape_class(a, b) -> int:
    """The shape class an alias picks a device by (the core's rule): 1 for a
    small matmul, whose time is the library's fixed cost per call."""
    m = a.shape[-2] if a.ndim > 1 else 1
    k = a.shape[-1] if a.ndim else 0
    n = b.shape[-1] if b.ndim > 1 else 1
    batch = max(1, int(np.prod(a.shape[:-2]))) if a.ndim > 2 else 1
    return _core.matmul_shape_class(int(batch * m), int(k), int(n))


def _operand(x, name):
    """A QTensor as it is, else an ndarray not yet converted to float: the
    limits are checked before any conversion spends memory."""
    return x if isinstance(x, QTensor) else as_array(x, name)


def _float(x, name):
    return x if isinstance(x, QTensor) else to_float(x, name)


def _default_precision(*ops) -> str:
    quantized = [o for o in ops if isinstance(o, QTensor)]
    if quantized:
        # the weight's precision decides: int4 weights with int8 activations
        # is int4 (W4A8)
        return quantized[-1].precision
    return precision_of_dtypes(*(float_dtype(o) for o in ops))


def _qmag(x, precision):
    """Largest |q - zero_point| operand x can have in precision: fixed by
    its quantization (a QTensor's own, or the symmetric default), as the
    core bounds it."""
    if isinstance(x, QTensor):
        qmax = _QMAX[x.precision]
        return qmax if x.symmetric else 2 * qmax + 1
    return _QMAX[precision]


def _check_accumulator(k, amag, bmag, what):
    """The core's s32 limit (and message), checked before any operand is
    converted: a K of 2^31 int8 values must fail at once, not after
    converting 16 GiB (issue 11)."""
    _core.check_accumulator(int(k), int(amag), int(bmag), what)


#: the shape class by which the "cpu" alias picks an attention's device
#: (XO_SHAPE_ATTENTION: csrc/core/registry.c ranks per op and precision)
ATTENTION_CLASS = 3


def _setup(device, precision, *ops, shape_class=0):
    precision = (
        _default_precision(*ops) if precision is None else check_precision(precision)
    )
    dev = resolve(device, precision, shape_class)
    check_supported(dev, precision)
    for o in ops:
        if isinstance(o, QTensor) and precision not in INTEGER:
            raise ValueError(
                f"a QTensor ({o.precision}) cannot run in precision "
                f"{precision!r}; pass precision={o.precision!r} or "
                "dequantize() it first"
            )
    return dev, precision


def _want_int32(out_dtype, precision, *ops) -> bool:
    if out_dtype is None:
        return False
    dt = np.dtype(out_dtype)
    if dt == np.int32:
        if precision not in INTEGER or not all(isinstance(o, QTensor) for o in ops):
            raise ValueError(
                "out_dtype=int32 returns raw s32 accumulators: it needs "
                "precision 'int8' or 'int4' and both operands quantized "
                "(pass QTensors from xpuops.quantize)"
            )
        return True
    natural = np.float64 if precision == "fp64" else np.float32
    if dt != natural:
        raise ValueError(
            f"out_dtype={dt} is not produced by precision {precision!r}; "
            f"use None (gives {np.dtype(natural)}) or int32 for raw accumulators"
        )
    return False


def _run(fn, *args):
    return fn(*args)


def _out_q(out_scale, out_zero_point, precision, int32):
    """The quantized-result request (QLinearMatMul / QLinearConv): (scale,
    zero point) or None, checked with messages naming the fix."""
    if out_scale is None:
        if out_zero_point is not None:
            raise ValueError("out_zero_point needs out_scale (the int8 result's scale)")
        return None
    if precision not in INTEGER:
        raise ValueError(
            f"out_scale gives an int8 result of an integer precision, not of "
            f"{precision!r}; pass precision='int8' (or 'int4') or drop "
            "out_scale"
        )
    if int32:
        raise ValueError(
            "out_scale gives an int8 result; out_dtype=int32 asks for raw "
            "accumulators: drop one of them"
        )
    s = np.asarray(out_scale)
    if s.size != 1 or s.dtype.kind not in "fiu":
        raise ValueError(
            f"out_scale must be one positive number (per tensor), got {out_scale!r}"
        )
    s = float(np.float32(s.reshape(())))
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"out_scale must be finite and positive, got {out_scale!r}")
    z = 0 if out_zero_point is None else out_zero_point
    zarr = np.asarray(z)
    if zarr.size != 1 or zarr.dtype.kind not in "iu":
        raise ValueError(f"out_zero_point must be one integer, got {out_zero_point!r}")
    z = int(zarr.reshape(()))
    if not -128 <= z <= 127:
        raise ValueError(
            f"out_zero_point={z} is outside [-128, 127], the int8 result's range"
        )
    return s, z


def _bias(bias, n, per, int32):
    """bias as a float array of shape (n,), or None."""
    if bias is None:
        return None
    if isinstance(bias, QTensor):
        raise TypeError("bias must be a float array, not a QTensor")
    bias = as_float_array(bias, "bias")
    if bias.shape != (n,):
        raise ValueError(
            f"bias must have shape ({n},), one per {per}; got {tuple(bias.shape)}"
        )
    if int32:
        raise ValueError(
            "bias cannot be added to raw int32 accumulators; "
            "drop out_dtype or add it yourself"
        )
    return bias


def matmul(
    a,
    b,
    *,
    bias=None,
    out_scale=None,
    out_zero_point=None,
    device="cpu",
    precision=None,
    out_dtype=None,
):
    """``a [..., M, K] @ b [..., K, N]`` with NumPy broadcasting of the batch
    dimensions (1-d operands as in numpy.matmul).

    precision: "fp64", "fp32", "bf16", "fp16", "fp8", "int8" or "int4";
    default: the inputs' own format. Float inputs are rounded (float
    precisions) or quantized (int8: a per tensor, b per output channel;
    int4: s4 weights per output channel with int8 activations) by the rules
    of DESIGN.md s2; QTensor operands are used as they are. Result: float64
    for fp64, float32 otherwise; ``out_dtype=np.int32`` with two QTensors
    returns the raw s32 accumulators. Inputs are never modified.

    bias ``[N]`` is added to the float result per output column, in float32
    (float64 for fp64), as ONNX Gemm's C. out_scale (integer precisions):
    the result is int8, ``saturate(rint(y / out_scale) + out_zero_point)``
    with y the float32 result including bias (QLinearMatMul); ties to even.
    """
    if (
        out_dtype is None
        and bias is None
        and out_scale is None
        and out_zero_point is None
    ):
        # two plain 2-d float arrays on a device string seen before: checked
        # and dispatched in C (the slow path below registered the device)
        out = _matmul_fast(a, b, device, precision)
        if out is not NotImplemented:
            return out
    a, b = _operand(a, "a"), _operand(b, "b")
    cls = matmul_shape_class(a, b)
    dev, precision = _setup(device, precision, a, b, shape_class=cls)
    if isinstance(device, str) and getattr(a, "ndim", 0) == getattr(b, "ndim", 0) == 2:
        _core.fast_register(device, CODE[precision], cls, dev.name)
    int32 = _want_int32(out_dtype, precision, a, b)
    outq = _out_q(out_scale, out_zero_point, precision, int32)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension, got "
            f"a.shape={a.shape}, b.shape={b.shape}; use * for "
            "scalars"
        )
    squeeze_m, squeeze_n = a.ndim == 1, b.ndim == 1
    a_shape = (1,) + a.shape if squeeze_m else a.shape
    b_shape = b.shape + (1,) if squeeze_n else b.shape
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(
            f"matmul: shapes a{tuple(a.shape)} and b{tuple(b.shape)} do not "
            f"match: the last dimension of a ({a_shape[-1]}) must equal the "
            f"second-to-last of b ({b_shape[-2]})"
        )
    try:
        batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of a{tuple(a.shape)} and "
            f"b{tuple(b.shape)} do not broadcast"
        ) from None
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    nb = math.prod(batch)
    bias = _bias(bias, n, "output column", int32)
    if precision in INTEGER:
        group = isinstance(b, QTensor) and b.group_size is not None
        _check_accumulator(
            b.group_size if group else k,
            _qmag(a, "int8"),  # activations are int8 under int4 too (W4A8)
            _qmag(b, precision),
            "group_size" if group else "K",
        )
    a, b = _float(a, "a"), _float(b, "b")

    def view3(x, shape, rows, cols, name):
        data = x.data if isinstance(x, QTensor) else x
        data = data.reshape(shape)
        data = np.broadcast_to(data, batch + (rows, cols)).reshape(nb, rows, cols)
        if not isinstance(x, QTensor):
            return data, None
        nd = len(shape)

        def axis_map(ax):
            if ax == nd - 1:
                return 2
            if ax == nd - 2:
                return 1
            raise ValueError(
                f"{name}: a QTensor quantized along a batch axis ({ax}) cannot "
                "be used in matmul; quantize along the last two axes"
            )

        if (squeeze_m and name == "a") or (squeeze_n and name == "b"):
            if x.axis is not None:
                raise ValueError(f"{name}: a 1-d QTensor must be per tensor")
        return data, x._qparams(axis_map)

    a3, qa = view3(a, a_shape, m, k, "a")
    b3, qb = view3(b, b_shape, k, n, "b")
    out = _core.matmul(
        a3,
        b3,
        dev.name,
        CODE[precision],
        qa,
        qb,
        int32,
        bias=bias,
        out_scale=None if outq is None else outq[0],
        out_zero_point=0 if outq is None else outq[1],
    )
    out = out.reshape(batch + (m, n))
    if squeeze_m:
        out = out[..., 0, :]
    if squeeze_n:
        out = out[..., 0]
    return out


def _pair(v, name, minimum):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        v = tuple(v)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    if len(v) != 2 or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in v
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
    if any(i < minimum for i in v):
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v[0]), int(v[1])


def conv_padding(kh, kw, stride, padding, dilation):
    """(begin, end) padding pairs for an int, pair, "valid" or "same"
    (stride 1 only; an odd total puts the extra row/column at the end, as
    PyTorch does). stride and dilation are pairs."""
    if not isinstance(padding, str):
        pad = _pair(padding, "padding", 0)
        return pad, pad
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(
            f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
        )
    if stride != (1, 1):
        raise ValueError(
            "padding='same' needs stride=1 (the output size would otherwise "
            "not equal the input's)"
        )
    tot = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    pb = (tot[0] // 2, tot[1] // 2)
    return pb, (tot[0] - pb[0], tot[1] - pb[1])


def conv2d(
    x,
    w,
    bias=None,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    layout="NCHW",
    device="cpu",
    precision=None,
    out_dtype=None,
    out_scale=None,
    out_zero_point=None,
):
    """2-D convolution (cross-correlation, as in PyTorch) of x with
    ``w [OC, C/groups, KH, KW]``, plus ``bias [OC]``.

    layout: "NCHW" (x [N, C, H, W], result [N, OC, OH, OW]) or "NHWC" (x
    [N, H, W, C], result [N, OH, OW, OC]); w keeps [OC, C/groups, KH, KW].
    padding: int, (ph, pw), "valid" (0) or "same" (stride 1 only; an odd total
    puts the extra row/column at the bottom/right, as PyTorch does).
    int8: x per tensor, w per output channel; bias is added in float32
    (float64 for fp64) after dequantization. out_scale (integer precisions):
    the result is int8, ``saturate(rint(y / out_scale) + out_zero_point)``
    with y the float32 result including bias (QLinearConv). With zero points
    the padding holds x's zero point (a padded tap contributes 0). Inputs
    are never modified.
    """
    x, w = _operand(x, "x"), _operand(w, "w")
    dev, precision = _setup(device, precision, x, w)
    int32 = _want_int32(out_dtype, precision, x, w)
    outq = _out_q(out_scale, out_zero_point, precision, int32)
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    if x.ndim != 4:
        raise ValueError(
            f"conv2d: x must be 4-d ({layout}), got shape {tuple(x.shape)}"
        )
    if w.ndim != 4:
        raise ValueError(
            f"conv2d: w must be 4-d [OC, C/groups, KH, KW], got shape {tuple(w.shape)}"
        )
    stride = _pair(stride, "stride", 1)
    dilation = _pair(dilation, "dilation", 1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    pb, pe = conv_padding(w.shape[2], w.shape[3], stride, padding, dilation)
    if precision in INTEGER:
        _check_accumulator(
            w.shape[1] * w.shape[2] * w.shape[3],
            _qmag(x, "int8"),  # W4A8
            _qmag(w, precision),
            "C/groups x KH x KW",
        )
    x, w = _float(x, "x"), _float(w, "w")
    xd = x.data if isinstance(x, QTensor) else x
    if layout == "NHWC":
        if isinstance(x, QTensor) and x.axis is not None:
            raise ValueError("x must be quantized per tensor")
        xd = xd.transpose(0, 3, 1, 2)
    c = xd.shape[1]
    if groups < 1 or c % groups or w.shape[0] % groups:
        raise ValueError(
            f"groups={groups} must be >= 1 and divide the input "
            f"channels ({c}) and output channels ({w.shape[0]})"
        )
    if w.shape[1] * groups != c:
        raise ValueError(
            f"conv2d: w{tuple(w.shape)} expects "
            f"{w.shape[1] * groups} input channels (C/groups="
            f"{w.shape[1]} x groups={groups}) but x has {c}"
        )
    bias = _bias(bias, w.shape[0], "output channel", int32)
    qx = x._qparams() if isinstance(x, QTensor) else None
    qw = w._qparams() if isinstance(w, QTensor) else None
    wd = w.data if isinstance(w, QTensor) else w
    out = _core.conv2d(
        x=xd,
        w=wd,
        bias=bias,
        device=dev.name,
        prec=CODE[precision],
        x_q=qx,
        w_q=qw,
        stride=stride,
        dilation=dilation,
        pad_begin=pb,
        pad_end=pe,
        groups=int(groups),
        int32=int32,
        out_scale=None if outq is None else outq[0],
        out_zero_point=0 if outq is None else outq[1],
    )
    if layout == "NHWC":
        out = np.ascontiguousarray(out.transpose(0, 2, 3, 1))
    return out


def conv1d(
    x,
    w,
    bias=None,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    layout="NCL",
    device="cpu",
    precision=None,
    out_dtype=None,
    out_scale=None,
    out_zero_point=None,
):
    """1-D convolution of ``x [N, C, L]`` (layout "NLC": ``[N, L, C]``) with
    ``w [OC, C/groups, KL]``, plus ``bias [OC]``: conv2d with H = 1 and the
    same arguments (stride, padding, dilation are ints; padding also
    "same"/"valid"), so every rule of conv2d holds (quantization per tensor
    / per output channel, zero points, bias, out_scale). Result [N, OC, OL]
    (NLC: [N, OL, OC]). Inputs are never modified."""
    if layout not in ("NCL", "NLC"):
        raise ValueError(f"layout must be 'NCL' or 'NLC', got {layout!r}")
    for name, v in (("stride", stride), ("dilation", dilation)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"conv1d: {name} must be an int, got {v!r}")
    if not isinstance(padding, str):
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
            raise TypeError(
                f"conv1d: padding must be an int, 'same' or 'valid', got {padding!r}"
            )
        padding = (0, int(padding))

    def lift(t, name, ndim_want, where):
        """The 1-d operand as a 2-d one: a unit axis at `where`."""
        data = t.data if isinstance(t, QTensor) else as_array(t, name)
        if data.ndim != ndim_want:
            shape = "[N, C, L]" if name == "x" else "[OC, C/groups, KL]"
            if name == "x" and layout == "NLC":
                shape = "[N, L, C]"
            raise ValueError(
                f"conv1d: {name} must be 3-d {shape}, got shape {tuple(data.shape)}"
            )
        if not isinstance(t, QTensor):
            return np.expand_dims(data, where)
        if t.group_size is not None:
            raise ValueError(f"conv1d: {name} must not have group-wise scales")
        return t._expanded(where)

    x2 = lift(x, "x", 3, 2 if layout == "NCL" else 1)
    w2 = lift(w, "w", 3, 2)
    out = conv2d(
        x2,
        w2,
        bias,
        stride=(1, stride),
        padding=padding,
        dilation=(1, dilation),
        groups=groups,
        layout="NCHW" if layout == "NCL" else "NHWC",
        device=device,
        precision=precision,
        out_dtype=out_dtype,
        out_scale=out_scale,
        out_zero_point=out_zero_point,
    )
    return out[:, :, 0, :] if layout == "NCL" else out[:, 0, :, :]


_CAUSAL = {False: 0, True: 1, "bottom-right": 1, "top-left": 2}


def _causal_code(causal) -> int:
    if isinstance(causal, (bool, np.bool_)):
        return _CAUSAL[bool(causal)]
    if isinstance(causal, str) and causal in _CAUSAL:
        return _CAUSAL[causal]
    raise ValueError(
        f"attention: causal={causal!r}; use False, True (= 'bottom-right'), "
        "'bottom-right' or 'top-left'"
    )


def _window(window):
    if window is None:
        return None
    try:
        left, right = window
    except (TypeError, ValueError):
        raise TypeError(
            f"attention: window={window!r}; pass a pair (left, right) of key "
            "counts, -1 for unbounded"
        ) from None
    for name, x in (("left", left), ("right", right)):
        if not isinstance(x, (int, np.integer)) or isinstance(x, bool):
            raise TypeError(f"attention: window {name} must be an int, got {x!r}")
        if x < -1:
            raise ValueError(
                f"attention: window {name} is {x}; use a count of keys >= 0, "
                "or -1 for unbounded"
            )
    return int(left), int(right)


def _real(x, name) -> float:
    """A real number given as a Python or NumPy scalar, or a 0-d array (not
    a bool)."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(
        x, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"attention: {name} must be a number, got {x!r}")
    return float(x)


def _softcap(softcap) -> float:
    if softcap is None:
        return 0.0
    c = _real(softcap, "softcap")
    if not (math.isfinite(c) and c > 0):
        raise ValueError(
            f"attention: softcap={softcap!r}; it must be a finite value > 0, "
            "or None for none"
        )
    return c


def _kv_lengths(kv_lengths, b, lk):
    if kv_lengths is None:
        return None
    n = np.asarray(kv_lengths)
    if n.dtype == bool or not np.issubdtype(n.dtype, np.integer):
        raise TypeError(
            f"attention: kv_lengths must hold integers, got dtype {n.dtype}"
        )
    if n.shape != (b,):
        raise ValueError(
            f"attention: kv_lengths has shape {n.shape}; it needs one length "
            f"per batch, shape ({b},)"
        )
    if n.size and (n.min() < 0 or n.max() > lk):
        raise ValueError(
            f"attention: kv_lengths must lie in [0, Lk={lk}], got "
            f"[{n.min()}, {n.max()}]"
        )
    return np.ascontiguousarray(n, np.int64)


def _mask(mask, full):
    """The mask as a 4-d view of its own elements: leading 1s added, and a
    dimension that only repeats (stride 0) cut to 1, so the core copies
    what the user has, never the broadcast."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool and m.dtype.kind != "f":
        raise TypeError(
            f"attention: mask must be bool (True: may attend) or float (added "
            f"to the scores), got dtype {m.dtype}"
        )
    if m.ndim > 4:
        raise ValueError(f"attention: mask has {m.ndim} dimensions; at most 4")
    m = m.reshape((1,) * (4 - m.ndim) + m.shape)
    for axis in range(4):
        if m.shape[axis] not in (1, full[axis]):
            raise ValueError(
                f"attention: mask of shape {np.shape(mask)} does not broadcast "
                f"to [B, H, Lq, Lk] = {list(full)}: dimension {axis} is "
                f"{m.shape[axis]}, it must be 1 or {full[axis]}"
            )
        if m.shape[axis] > 1 and m.strides[axis] == 0:
            m = m[(slice(None),) * axis + (slice(0, 1),)]
    if m.dtype == bool:
        return m.view(np.uint8)
    if m.dtype not in (np.float16, np.float32, np.float64):
        m = m.astype(np.float64)
    return m


def attention(
    q,
    k,
    v,
    *,
    mask=None,
    causal=False,
    window=None,
    softcap=None,
    kv_lengths=None,
    scale=None,
    device="cpu",
    precision=None,
):
    """softmax(mask(softcap(scale * q kᵀ))) v for ``q [B, H, Lq, D]``,
    ``k [B, Hkv, Lk, D]`` and ``v [B, Hkv, Lk, Dv]`` with ``H % Hkv == 0``
    (grouped-query heads: query head h uses key head h // (H // Hkv));
    result ``[B, H, Lq, Dv]``.

    causal: False, True (= "bottom-right": query i sees keys j <= i + (Lk -
    Lq)) or "top-left" (j <= i). window=(left, right): key j visible iff
    i' - left <= j <= i' + right, i' the query's position aligned as causal
    says (bottom-right unless "top-left"); -1 is unbounded; intersects with
    causal. mask: bool (True: may attend) or float (added to the scores),
    broadcastable to [B, H, Lq, Lk]. softcap=c: scores become c tanh(s / c)
    after scaling, before masking. kv_lengths: ints [B]; keys j >=
    kv_lengths[b] are hidden. A row that sees no key gives 0. scale
    defaults to 1/sqrt(D). int8 runs the scheme of DESIGN.md s2; k and v
    may be int8 QTensors (a KV cache: k per tensor or per key, axis 2; v
    per tensor or per channel, axis 3), used with their own scales and k
    not centred. Result: float64 for fp64, float32 otherwise. Inputs are
    never modified.
    """
    if isinstance(q, QTensor):
        raise TypeError(
            "attention: q must be a float array; the int8 scheme quantizes "
            "q per row itself (k and v may be int8 QTensors: a KV cache)"
        )
    q = as_array(q, "q")
    k, v = _operand(k, "k"), _operand(v, "v")
    for name, t in (("k", k), ("v", v)):
        if isinstance(t, QTensor) and t.precision != "int8":
            raise ValueError(
                f"attention: {name} is a {t.precision} QTensor; a KV cache "
                "is int8 (quantize(x, 'int8', axis=...))"
            )
    dev, precision = _setup(device, precision, q, k, v, shape_class=ATTENTION_CLASS)
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim != 4:
            raise ValueError(
                f"attention: {name} must be 4-d [B, heads, L, D], "
                f"got shape {tuple(t.shape)}"
            )
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(
            f"attention: k{tuple(k.shape)} and v{tuple(v.shape)} "
            "must agree in B, Hkv and Lk (v's head size Dv may differ)"
        )
    if q.shape[0] != k.shape[0] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"attention: q{tuple(q.shape)} and k{tuple(k.shape)} "
            "must agree in batch (axis 0) and D (axis 3)"
        )
    b, h, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    if (hkv == 0 and h != 0) or (hkv and h % hkv):
        raise ValueError(
            f"attention: q has H={h} heads, not a multiple of "
            f"k/v's Hkv={hkv} heads (grouped-query attention "
            "needs H % Hkv == 0)"
        )
    code = _causal_code(causal)
    win = _window(window)
    cap = _softcap(softcap)
    lengths = _kv_lengths(kv_lengths, b, lk)
    m = _mask(mask, (b, h, lq, lk))
    if precision == "int8":  # the core's limits, before any conversion
        _check_accumulator(d, 127, 127, "D")
        _check_accumulator(lk, 255, 127, "Lk")
    q = to_float(q, "q")
    k, v = _float(k, "k"), _float(v, "v")

    def split(t):
        if isinstance(t, QTensor):
            return t.data, t._qparams(lambda ax: ax % 4)
        return t, None

    (kd, kq), (vd, vq) = split(k), split(v)
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d > 0 else 1.0
    scale = _real(scale, "scale")
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    return _core.attention(
        q=q,
        k=kd,
        v=vd,
        device=dev.name,
        prec=CODE[precision],
        k_q=kq,
        v_q=vq,
        causal=code,
        window=win,
        softcap=cap,
        kv_lengths=lengths,
        mask=m,
        scale=scale,
    )

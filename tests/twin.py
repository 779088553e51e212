"""Pure-NumPy twins of every op and precision: written from DESIGN.md, not
from the C code, so that the two oracles check each other."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from xpuops.reference import conv2d, sqnr_db  # noqa: F401

QMAX = {"int8": 127, "int4": 7}
FORMAT = {
    "fp64": np.float64,
    "fp32": np.float32,
    "bf16": ml_dtypes.bfloat16,
    "fp16": np.float16,
    "fp8": ml_dtypes.float8_e4m3fn,
}


def round_to(x, precision):
    """Float x rounded to the operand format, returned as float64 values.
    float64 input reaches bf16/fp8 through float32, as ml_dtypes does."""
    fmt = FORMAT[precision]
    x = np.asarray(x)
    if fmt in (ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn):
        x = x.astype(np.float32)
    return x.astype(fmt).astype(np.float64)


def quantize(
    x, precision="int8", axis=None, symmetric=True, group_size=None, group_axis=None
):
    """(q int64, scale float32 broadcastable, zero_point int64 broadcastable)
    exactly as DESIGN.md s2: float32 throughout, ties to even."""
    x = np.asarray(x).astype(np.float32)
    qmax = QMAX[precision]
    if axis is None:
        red = tuple(range(x.ndim))
    else:
        axis %= x.ndim
        red = tuple(d for d in range(x.ndim) if d != axis)
    if group_size is not None:
        ga = (
            (x.ndim - 2 if axis == x.ndim - 1 else x.ndim - 1)
            if group_axis is None
            else group_axis % x.ndim
        )
        # split the grouped axis into (groups, group_size)
        shp = list(x.shape)
        shp[ga : ga + 1] = [shp[ga] // group_size, group_size]
        xg = x.reshape(shp)
        red_g = tuple(
            d for d in range(xg.ndim) if d not in (ga, axis if axis < ga else axis + 1)
        )
        q, s, z = _quantize_reduce(xg, red_g, qmax, symmetric)
        return q.reshape(x.shape), _expand(s, shp, ga), _expand(z, shp, ga)
    return _quantize_reduce(x, red, qmax, symmetric)


def _expand(p, split_shape, ga):
    """Per-group parameters repeated over the group's elements."""
    full = np.repeat(p, split_shape[ga + 1], axis=ga + 1)
    shp = list(full.shape)
    shp[ga : ga + 2] = [shp[ga] * shp[ga + 1]]
    return full.reshape(shp)


def _quantize_reduce(x, red, qmax, symmetric):
    lo = np.minimum(x.min(axis=red, keepdims=True, initial=0), np.float32(0))
    hi = np.maximum(x.max(axis=red, keepdims=True, initial=0), np.float32(0))
    if symmetric:
        amax = np.maximum(-lo, hi)
        scale = np.where(amax == 0, np.float32(1), amax / np.float32(qmax))
        scale = np.where(
            (scale == 0) & (amax > 0),
            np.float32(np.finfo(np.float32).smallest_subnormal),
            scale,
        ).astype(np.float32)
        q = np.clip(np.rint(x / scale), -qmax, qmax).astype(np.int64)
        return q, scale, np.zeros_like(scale, dtype=np.int64)
    levels = 2 * qmax + 1
    rng = hi - lo
    scale = np.where(rng == 0, np.float32(1), rng / np.float32(levels))
    scale = scale.astype(np.float32)
    zp = np.clip(np.rint(-lo / scale), 0, levels).astype(np.int64)
    q = np.clip(np.rint(x / scale) + zp, 0, levels).astype(np.int64)
    return q, scale, zp


def matmul_float(a, b, precision):
    """fp64 product of the operands rounded to the precision's format."""
    return np.matmul(round_to(a, precision), round_to(b, precision))


def matmul_int(a, b, precision):
    """(acc int64, result float32) of DESIGN.md's default quantization."""
    qa, sa, _ = quantize(a, "int8")
    qb, sb, _ = quantize(b, precision, axis=-1)
    acc = np.matmul(qa, qb)
    sa = sa.reshape(())
    sb = sb.reshape(-1)
    return acc, acc.astype(np.float32) * (np.float32(sa) * sb)


def expf(x):
    """e^x exactly as the core's xo_expf: the same float32 + - * and rint
    steps (Cody-Waite by ln 2, degree-6 polynomial, times 2^n)."""
    x = np.asarray(x, np.float32)
    f = np.float32
    out_of_range = ~(x > f(-87.0))
    x = np.minimum(np.where(out_of_range, f(0), x), f(88.0)).astype(np.float32)
    n = np.rint(x * f(1.44269504))
    r = x - n * f(0.693359375)
    r = r + n * f(2.12194440e-4)
    e = f(1.0) / f(720.0)
    for c in (f(1) / f(120), f(1) / f(24), f(1) / f(6), f(0.5), f(1.0), f(1.0)):
        e = (e * r + c).astype(np.float32)
    two_n = np.ldexp(np.ones_like(x), n.astype(np.int32)).astype(np.float32)
    return np.where(out_of_range, f(0), e * two_n).astype(np.float32)


def visibility(shape, causal=False, window=None, kv_lengths=None):
    """bool [B, 1, Lq, Lk]: which keys each query may see, from the
    definitions of issue 14 (before any mask). Query i sits at i' = i
    (top-left) or i + Lk - Lq (otherwise); causal keeps j <= i'; a window
    (left, right) keeps i' - left <= j <= i' + right (-1: unbounded);
    kv_lengths keeps j < kv_lengths[b]."""
    b, lq, lk = shape
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    pos = i if causal == "top-left" else i + (lk - lq)
    vis = np.ones((lq, lk), bool)
    if causal:
        vis &= j <= pos
    if window is not None:
        left, right = window
        if left >= 0:
            vis &= j >= pos - left
        if right >= 0:
            vis &= j <= pos + right
    vis = np.broadcast_to(vis, (b, 1, lq, lk))
    if kv_lengths is not None:
        n = np.asarray(kv_lengths).reshape(b, 1, 1, 1)
        vis = vis & (j[None, None] < n)
    return vis


def _additive(mask, dtype):
    """A user mask as additive terms in dtype: bool to 0 / -inf."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    return (
        m.astype(np.float32).astype(dtype) if dtype == np.float32 else m.astype(dtype)
    )


def _expand_kv(t, h):
    return np.repeat(t, h // t.shape[1], axis=1)


def attention(
    q,
    k,
    v,
    causal=False,
    scale=None,
    *,
    mask=None,
    window=None,
    softcap=None,
    kv_lengths=None,
    mask_f32=True,
):
    """fp64 attention from the definitions: s = scale q kᵀ; softcap c:
    c tanh(s / c); then the mask's term (a float mask rounded to float32
    unless mask_f32 is False, as the core adds it for every precision but
    fp64); hidden keys (causal, window, kv_lengths, bool False or -inf)
    drop out; a row that sees no key gives 0."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    b, h, lq, d = q.shape
    lk, dv = k.shape[2], v.shape[3]
    scale = 1 / np.sqrt(d) if scale is None else scale
    if causal is True:
        causal = "bottom-right"
    if lk == 0:
        return np.zeros((b, h, lq, dv))
    s = np.einsum("bhid,bhjd->bhij", q, _expand_kv(k, h)) * scale
    if softcap:
        s = softcap * np.tanh(s / softcap)
    add = _additive(mask, np.float32 if mask_f32 else np.float64)
    if add is not None:
        s = s + add.astype(np.float64)
    vis = visibility((b, lq, lk), causal, window, kv_lengths) & (s > -np.inf)
    s = np.where(vis, s, -np.inf)
    mx = np.where(vis.any(-1, keepdims=True), s.max(-1, keepdims=True), 0)
    e = np.where(vis, np.exp(s - mx), 0)
    tot = e.sum(-1, keepdims=True)
    p = np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)
    return np.einsum("bhij,bhjd->bhid", p, _expand_kv(v, h))


def tanhf(x):
    """tanh as the core's xo_rule_tanhf: float32 steps over expf."""
    f = np.float32
    x = np.asarray(x, np.float32)
    a = np.abs(x)
    a2 = (a * a).astype(f)
    poly = (f(-17.0 / 315.0) * a2).astype(f)
    poly = (f(2.0 / 15.0) + poly).astype(f)
    poly = (a2 * poly).astype(f)
    poly = (f(-1.0 / 3.0) + poly).astype(f)
    small = (a + ((a * a2).astype(f) * poly).astype(f)).astype(f)
    e = expf((f(2.0) * a).astype(f))
    big = (f(1.0) - (f(2.0) / (e + f(1.0)).astype(f)).astype(f)).astype(f)
    t = np.where(a > f(9.0), f(1.0), np.where(a < f(0.125), small, big))
    return np.where(x < 0, -t, t).astype(f)


def attention_int8(
    q,
    k,
    v,
    causal=False,
    scale=None,
    *,
    mask=None,
    window=None,
    softcap=None,
    kv_lengths=None,
):
    """The int8 scheme v2 of DESIGN.md s2, in float32 NumPy: returns
    (S = Q Kᵀ s32 as int64, out float32). Q per (batch, head, row); K per
    (batch, kv-head, key) after centring on its mean over keys (not with a
    softcap), or as given (an int8 QTensor: its scales, not centred); V
    per (batch, kv-head, channel), or as given. S = acc sq sk scale;
    softcap c tanh(S / c) (tanhf); + the mask's float32 term; m = max
    over visible keys; P = rint(255 exp(S - m)) as u8 (hidden keys 0); out
    = (P V) sv / sum(P)."""
    from xpuops import QTensor

    q = np.asarray(q).astype(np.float32)
    b, h, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    dv = v.shape[3]
    f = np.float32
    scale = f(1 / np.sqrt(d) if scale is None else scale)
    if causal is True:
        causal = "bottom-right"
    if lk == 0:  # no key: every row sees nothing and gives 0
        return np.zeros((b, h, lq, 0), np.int64), np.zeros((b, h, lq, dv), np.float32)
    qq, sq, _ = quantize(q.reshape(b * h * lq, d), "int8", axis=0)
    if isinstance(k, QTensor):
        qk = k.data.astype(np.int64)
        sk = np.broadcast_to(k._broadcast_params()[0], (b, hkv, lk, 1))
        sk = sk.reshape(b, hkv, lk).astype(np.float32)
    else:
        k = np.asarray(k).astype(np.float32)
        mean = (k.astype(np.float64).sum(axis=2, keepdims=True) / lk).astype(f)
        # a softcap is not shift-invariant: K is centred only without one
        kc = k if softcap else k - mean
        qk, sk, _ = quantize(kc.reshape(b * hkv * lk, d), "int8", axis=0)
    if isinstance(v, QTensor):
        qv = v.data.astype(np.int64)
        sv = np.broadcast_to(v._broadcast_params()[0], (b, hkv, 1, dv))
        sv = sv.reshape(b * hkv, dv).astype(np.float32)
    else:
        v = np.asarray(v).astype(np.float32)
        vt = v.reshape(b * hkv, lk, dv).transpose(0, 2, 1).reshape(b * hkv * dv, lk)
        qvt, sv, _ = quantize(vt, "int8", axis=0)
        qv = qvt.reshape(b * hkv, dv, lk).transpose(0, 2, 1)
    rep = h // hkv
    qq = qq.reshape(b, h, lq, d)
    qk = np.repeat(np.reshape(qk, (b, hkv, lk, d)), rep, axis=1)
    qv = np.repeat(np.reshape(qv, (b, hkv, lk, dv)), rep, axis=1)
    sq = sq.reshape(b, h, lq, 1).astype(np.float32)
    sk = np.repeat(np.reshape(sk, (b, hkv, 1, lk)), rep, axis=1).astype(f)
    sv = np.repeat(np.reshape(sv, (b, hkv, 1, dv)), rep, axis=1).astype(f)
    s = np.einsum("bhid,bhjd->bhij", qq, qk)
    sf = ((s.astype(np.float32) * sq).astype(np.float32) * sk).astype(np.float32)
    sf = (sf * scale).astype(np.float32)
    if softcap:
        c = f(softcap)
        sf = (c * tanhf((sf / c).astype(f))).astype(f)
    add = _additive(mask, np.float32)
    if add is not None:
        sf = (sf + add).astype(f)
    vis = visibility((b, lq, lk), causal, window, kv_lengths) & (sf > -np.inf)
    masked = np.where(vis, sf, -np.inf).astype(np.float32)
    mx = masked.max(axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, f(0)).astype(np.float32)
    e = expf(np.where(vis, sf - mx, f(-100)))
    pu = np.clip(np.rint(f(255) * e), 0, 255).astype(np.int64)
    pu = np.where(vis, pu, 0)
    acc = np.einsum("bhij,bhjd->bhid", pu, qv)
    tot = pu.sum(axis=-1, keepdims=True)
    num = (acc.astype(np.float32) * sv).astype(np.float32)
    out = np.divide(
        num, tot.astype(np.float32), out=np.zeros_like(num), where=tot > 0
    ).astype(np.float32)
    return s, out


def quantize_multiplier(real):
    """TFLite QuantizeMultiplier of float64 reals (> 0): (Q31 multiplier,
    shift) as int64 arrays, real = multiplier * 2^(shift - 31)."""
    q, e = np.frexp(np.asarray(real, np.float64))
    x = q * 2.0**31  # exact: a power-of-two scaling
    fixed = (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)  # llround
    up = fixed == 2**31
    fixed = np.where(up, fixed // 2, fixed)
    e = np.where(up, e + 1, e).astype(np.int64)
    tiny = e < -31
    return np.where(tiny, 0, fixed), np.where(tiny, 0, e)


def requantize(acc, real, single_rounding=False):
    """s8 of int64 accumulators times float64 real multipliers (broadcast),
    in gemmlowp's fixed point: SaturatingRoundingDoublingHighMul, then
    RoundingDivideByPOT, each rounding half away from zero (or TFLite's
    single rounding, half up at one final shift); saturated to [-128, 127].
    Written from gemmlowp's fixedpoint.h and TFLite's quantization_util, for
    the shifts these tests produce (left shifts of at most 31)."""
    mult, shift = quantize_multiplier(real)
    acc, mult, shift = np.broadcast_arrays(np.asarray(acc, np.int64), mult, shift)
    if single_rounding:
        total = 31 - shift
        r = (acc * mult + (np.int64(1) << (total - 1))) >> total
    else:
        left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
        x = np.clip(acc << left, -(2**31), 2**31 - 1)
        ab = x * mult
        v = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
        r = np.sign(v) * (np.abs(v) >> 31)  # C division: toward zero
        mask = (np.int64(1) << right) - 1
        thr = (mask >> 1) + (r < 0)
        r = (r >> right) + ((r & mask) > thr)
    return np.clip(r, -128, 127)


def requantized_output(acc, sa, sb, bias=None, bias_shape=None):
    """npusim's float result (DESIGN.md s7), from int64 accumulators and the
    float32 scales of a (per tensor) and b (broadcast to acc): the float
    values ``t = float32(acc) * (sa * sb)`` set the output scale ``s_out =
    max|t| / 127`` (1 when all are zero); each accumulator is requantized to
    s8 through the fixed-point multiplier of ``sa * sb / s_out`` (in
    float64), times s_out in float32; then + bias (float32)."""
    acc = np.asarray(acc, np.int64)
    sa, sb = np.float32(sa), np.asarray(sb, np.float32)
    t = acc.astype(np.float32) * (sa * sb)
    amax = np.abs(t).max() if t.size else np.float32(0)
    s_out = np.float32(amax / np.float32(127)) if amax > 0 else np.float32(1)
    real = np.float64(sa) * sb.astype(np.float64) / np.float64(s_out)
    y = requantize(acc, real).astype(np.float32) * s_out
    if bias is not None:
        y = y + np.asarray(bias, np.float32).reshape(bias_shape)
    return y


# ---- ONNX's integer and quantized-output ops, from their definitions ----


def quantize_linear(x, scale, zero_point=0, lo=-128, hi=127):
    """ONNX QuantizeLinear: saturate(rint(x / scale) + zero_point) into
    [lo, hi], x / scale in float32, ties to even (int64 result)."""
    x = np.asarray(x).astype(np.float32)
    t = np.rint((x / np.asarray(scale, np.float32)).astype(np.float32))
    return np.clip(t.astype(np.int64) + np.asarray(zero_point, np.int64), lo, hi)


def dequantize_linear(q, scale, zero_point=0):
    """ONNX DequantizeLinear: (q - zero_point) * scale in float32."""
    d = np.asarray(q, np.int64) - np.asarray(zero_point, np.int64)
    return (d.astype(np.float32) * np.asarray(scale, np.float32)).astype(np.float32)


def matmul_integer(a, za, b, zb):
    """ONNX MatMulInteger: sum_k (a - za)(b - zb) in int64; zb per column
    (broadcast against b's last axis) or per tensor."""
    return np.matmul(
        np.asarray(a, np.int64) - np.asarray(za, np.int64),
        np.asarray(b, np.int64) - np.asarray(zb, np.int64),
    )


def conv_integer(x, zx, w, zw, **kw):
    """ONNX ConvInteger: the convolution of (x - zx) and (w - zw) in int64,
    zw per output channel or per tensor; the padding holds zx, so a padded
    tap contributes 0. kw: stride, pad, dilation, groups as
    xpuops.reference.conv2d takes them."""
    xs = np.asarray(x, np.int64) - np.asarray(zx, np.int64)
    zw = np.asarray(zw, np.int64)
    ws = np.asarray(w, np.int64) - (zw.reshape(-1, 1, 1, 1) if zw.ndim else zw)
    return conv2d(xs, ws, **kw)


def qlinear_output(y, out_scale, out_zero_point=0):
    """The int8 result of QLinearMatMul / QLinearConv from the float32
    result y (bias included): saturate(rint(y / out_scale) + zero point)."""
    return quantize_linear(y, np.float32(out_scale), out_zero_point, -128, 127)

"""What real quantized models need (issue 14), against NumPy twins written
from the ONNX definitions (tests/twin.py): zero points on activations and
weights (MatMulInteger, ConvInteger) bit-exact on every integer device,
quantized outputs (QLinearMatMul, QLinearConv), Gemm's bias, QuantizeLinear
/ DequantizeLinear with given scales, QTensor.from_int, conv1d, and the
errors bad input gets."""

import matrix
import numpy as np
import pytest
import twin
import xpuops as xo
from bounds import FLOAT, INTEGER, requantizing
from conftest import needs_backend

ALL = FLOAT + INTEGER

#: Backends documented to refuse zero points (DESIGN.md, argument x device):
#: OpenVINO's runtime picks its own int8 arithmetic.
REFUSES_ZP = {"openvino"}


def _one_per_backend(precision, op):
    """The available devices that declare precision and run op
    (tests/matrix.py OPS), one per backend (the npusim profiles all run the
    same pipeline)."""
    seen, out = set(), []
    for d in xo.devices():
        if (
            d.available
            and precision in d.precisions
            and matrix.runs(d.backend, op)
            and d.backend not in seen
        ):
            seen.add(d.backend)
            out.append(d)
    return out


def _int_devices(op):
    return [
        pytest.param(d.name, p, id=f"{d.name}-{p}")
        for p in INTEGER
        for d in _one_per_backend(p, op)
        if d.backend not in REFUSES_ZP
    ]


def _float_devices(op):
    return [
        pytest.param(d.name, p, id=f"{d.name}-{p}")
        for p in ALL
        for d in _one_per_backend(p, op)
    ]


INT_DEVICES = _int_devices("matmul")
INT_CONV_DEVICES = _int_devices("conv2d")
REFUSING = [
    pytest.param(d.name, id=d.name)
    for d in _one_per_backend("int8", "conv2d")
    if d.backend in REFUSES_ZP
]
FLOAT_DEVICES = _float_devices("matmul")
FLOAT_CONV_DEVICES = _float_devices("conv2d")


def _asym_act(rng, shape, unsigned=True):
    """Activations with a zero point, as a model's uint8 (or int8) tensor."""
    if unsigned:
        q = rng.integers(0, 256, shape).astype(np.uint8)
        z = np.int32(rng.integers(0, 256))
    else:
        q = rng.integers(-128, 128, shape).astype(np.int8)
        z = np.int32(rng.integers(-128, 128))
    return xo.QTensor.from_int(q, np.float32(0.03), zero_point=z)


def _asym_w(rng, shape, axis, precision, unsigned=False):
    """Weights with zero points per channel along axis (None: per tensor)."""
    n = 1 if axis is None else shape[axis]
    zshape = () if axis is None else (n,)
    s = (rng.random(zshape) * 0.02 + 0.005).astype(np.float32)
    if precision == "int4":
        q = rng.integers(-8, 8, shape).astype(np.int8)
        z = rng.integers(-8, 8, zshape).astype(np.int32)
        return xo.QTensor.from_int(q, s, z, axis=axis, precision="int4")
    if unsigned:
        q = rng.integers(0, 256, shape).astype(np.uint8)
        z = rng.integers(0, 256, zshape).astype(np.int32)
    else:
        q = rng.integers(-128, 128, shape).astype(np.int8)
        z = rng.integers(-128, 128, zshape).astype(np.int32)
    return xo.QTensor.from_int(q, s, z, axis=axis)


def _stored(qt):
    """(values, zero point) of a QTensor as int64, broadcastable."""
    s, z = qt._broadcast_params()
    return qt.data.astype(np.int64), np.asarray(z, np.int64)


# ---- zero points: MatMulInteger and ConvInteger, bit-exact -----------------


@pytest.mark.parametrize("device,precision", INT_DEVICES)
@pytest.mark.parametrize("axis", [1, None], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("unsigned", [True, False], ids=["u8", "s8"])
def test_matmul_integer(device, precision, axis, unsigned, rng):
    a = _asym_act(rng, (2, 7, 70), unsigned)
    b = _asym_w(rng, (70, 9), axis, precision, unsigned)
    acc = xo.matmul(a, b, device=device, out_dtype=np.int32)
    qa, za = _stored(a)
    qb, zb = _stored(b)
    np.testing.assert_array_equal(acc, twin.matmul_integer(qa, za, qb, zb))
    # the float result: ref's bits (npusim: its requantized twin)
    y = xo.matmul(a, b, device=device)
    sa, sb = np.float32(a.scale), np.broadcast_to(b.scale, (9,))
    if requantizing(device):
        np.testing.assert_array_equal(y, twin.requantized_output(acc, sa, sb))
    else:
        expect = acc.astype(np.float32) * (sa * sb.astype(np.float32))
        np.testing.assert_array_equal(y, expect)


@pytest.mark.parametrize("device,precision", INT_CONV_DEVICES)
@pytest.mark.parametrize(
    "case",
    [
        dict(x=(2, 4, 9, 8), w=(6, 2, 3, 3), stride=(2, 1), padding=(1, 2), groups=2),
        dict(x=(1, 3, 7, 7), w=(4, 3, 3, 3), padding="same", dilation=2),
        dict(x=(1, 5, 6, 6), w=(5, 1, 3, 3), padding=1, groups=5),
    ],
    ids=["strided-grouped-padded", "dilated-same", "depthwise"],
)
def test_conv_integer(device, precision, case, rng):
    case = dict(case)
    xs, ws = case.pop("x"), case.pop("w")
    x = _asym_act(rng, xs)
    w = _asym_w(rng, ws, 0, precision)
    bias = rng.standard_normal(ws[0]).astype(np.float32)
    acc = xo.conv2d(x, w, device=device, out_dtype=np.int32, **case)
    y_ref = xo.conv2d(x, w, bias, device="ref", **case)
    qx, zx = _stored(x)
    qw, zw = _stored(w)
    stride = case.get("stride", 1)
    stride = (stride, stride) if isinstance(stride, int) else stride
    dil = case.get("dilation", 1)
    pad = case.get("padding", 0)
    if pad == "same":
        tot = [dil * (ws[2] - 1), dil * (ws[3] - 1)]
        pad = ((tot[0] // 2, tot[0] - tot[0] // 2), (tot[1] // 2, tot[1] - tot[1] // 2))
    else:
        pad = (pad, pad) if isinstance(pad, int) else pad
        pad = ((pad[0], pad[0]), (pad[1], pad[1]))
    expect = twin.conv_integer(
        qx,
        zx,
        qw,
        zw.reshape(-1),
        stride=stride,
        pad=pad,
        dilation=(dil, dil),
        groups=case.get("groups", 1),
    )
    np.testing.assert_array_equal(acc, expect)
    y = xo.conv2d(x, w, bias, device=device, **case)
    if not requantizing(device):  # the float result: ref's bits
        np.testing.assert_array_equal(y, y_ref)
    sw = w.scale.reshape(-1, 1, 1)
    want = expect.astype(np.float32) * (np.float32(x.scale) * sw) + bias.reshape(
        -1, 1, 1
    )
    np.testing.assert_array_equal(y_ref, want.astype(np.float32))


@pytest.mark.parametrize(
    "device,precision", [p for p in INT_DEVICES if p.values[1] == "int4"]
)
def test_grouped_int4_with_zero_points(device, precision, rng):
    a = _asym_act(rng, (5, 64))
    q = rng.integers(-8, 8, (64, 6)).astype(np.int8)
    s = (rng.random((2, 6)) * 0.02 + 0.01).astype(np.float32)
    z = rng.integers(-8, 8, (2, 6)).astype(np.int32)
    b = xo.QTensor.from_int(q, s, z, axis=1, group_size=32, precision="int4")
    if device.split(":")[0] == "npusim":  # no group-wise scales: says who can
        with pytest.raises(xo.UnsupportedError, match="ref"):
            xo.matmul(a, b, device=device)
        return
    y = xo.matmul(a, b, device=device)
    qa, za = _stored(a)
    expect = np.zeros((5, 6), np.float32)
    for g in range(2):
        acc = twin.matmul_integer(
            qa[:, g * 32 : (g + 1) * 32], za, q[g * 32 : (g + 1) * 32], z[g]
        )
        expect = expect + acc.astype(np.float32) * (np.float32(a.scale) * s[g])
    np.testing.assert_array_equal(y, expect.astype(np.float32))


@pytest.mark.parametrize("device", REFUSING)
def test_zero_points_refused_naming_devices(device, rng):
    a = _asym_act(rng, (3, 16))
    b = xo.quantize(rng.standard_normal((16, 4)).astype(np.float32), axis=1)
    with pytest.raises(xo.UnsupportedError, match="zero points.*ref.*onednn"):
        xo.matmul(a, b, device=device)
    x = _asym_act(rng, (1, 2, 5, 5))
    w = xo.quantize(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), axis=0)
    with pytest.raises(xo.UnsupportedError, match="zero points.*ref"):
        xo.conv2d(x, w, device=device, padding=1)


def test_accumulator_limit_with_zero_points():
    """|a - za| and |w - zw| reach 255: K's limit is 2^31 / 255^2."""
    a = xo.QTensor.from_int(np.zeros((1, 33026), np.uint8), 1.0, zero_point=0)
    b = xo.QTensor.from_int(np.zeros((33026, 1), np.int8), 1.0, zero_point=np.int32(0))
    with pytest.raises(ValueError, match="33025"):
        xo.matmul(a, b, device="ref")


# ---- Gemm: bias ------------------------------------------------------------


@pytest.mark.parametrize("device,precision", FLOAT_DEVICES)
def test_gemm_bias(device, precision, rng):
    a = rng.standard_normal((2, 5, 33)).astype(np.float32)
    b = rng.standard_normal((33, 7)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    y0 = xo.matmul(a, b, device=device, precision=precision)
    y = xo.matmul(a, b, bias=bias, device=device, precision=precision)
    # added per output column to the float result, in its own format
    want = y0 + bias.astype(y0.dtype)
    np.testing.assert_array_equal(y, want)
    assert y.dtype == y0.dtype
    if precision in ("fp64", "fp32"):
        ref = a.astype(np.float64) @ b.astype(np.float64) + bias
        assert twin.sqnr_db(ref, y) > 60


def test_conv_bias_same_rule(rng):
    """conv2d's bias is added to the float result the same way (per output
    channel, float32; float64 for fp64)."""
    x = rng.standard_normal((1, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    bias = rng.standard_normal(4)
    for prec, dt in (("fp64", np.float64), ("fp32", np.float32), ("int8", np.float32)):
        y0 = xo.conv2d(x, w, device="ref", precision=prec)
        y = xo.conv2d(x, w, bias, device="ref", precision=prec)
        np.testing.assert_array_equal(y, y0 + bias.astype(dt).reshape(-1, 1, 1))


# ---- QLinearMatMul / QLinearConv ---------------------------------------------


@pytest.mark.parametrize("device,precision", INT_DEVICES)
@pytest.mark.parametrize("zp", [0, -7, 100])
def test_qlinear_matmul(device, precision, zp, rng):
    a = _asym_act(rng, (6, 40))
    b = _asym_w(rng, (40, 11), 1, precision)
    bias = rng.standard_normal(11).astype(np.float32)
    y_ref = xo.matmul(a, b, bias=bias, device="ref")
    out_scale = np.float32(np.abs(y_ref).max() / 100)
    q = xo.matmul(
        a, b, bias=bias, out_scale=out_scale, out_zero_point=zp, device=device
    )
    assert q.dtype == np.int8 and q.shape == (6, 11)
    want = twin.qlinear_output(y_ref, out_scale, zp)
    if requantizing(device):
        # fixed-point multiplier and an s32 bias: within 1 LSB (DESIGN.md)
        assert np.abs(q.astype(np.int64) - want).max() <= 1
        assert (q.astype(np.int64) != want).mean() < 0.1
    else:
        np.testing.assert_array_equal(q, want)


@pytest.mark.parametrize("device,precision", INT_CONV_DEVICES)
def test_qlinear_conv(device, precision, rng):
    x = _asym_act(rng, (2, 4, 7, 7))
    w = _asym_w(rng, (5, 4, 3, 3), 0, precision)
    bias = rng.standard_normal(5).astype(np.float32)
    y_ref = xo.conv2d(x, w, bias, padding=1, device="ref")
    s = np.float32(np.abs(y_ref).max() / 90)
    q = xo.conv2d(x, w, bias, padding=1, out_scale=s, out_zero_point=3, device=device)
    want = twin.qlinear_output(y_ref, s, 3)
    if requantizing(device):
        assert np.abs(q.astype(np.int64) - want).max() <= 1
    else:
        np.testing.assert_array_equal(q, want)


@pytest.mark.parametrize("device,precision", INT_DEVICES)
def test_qlinear_ties_and_saturation(device, precision, rng):
    """Accumulators that land on exact halves of out_scale round to even;
    values past the int8 range saturate."""
    a = xo.QTensor.from_int(np.arange(-5, 6, dtype=np.int8).reshape(11, 1), 1.0)
    b = xo.QTensor.from_int(np.ones((1, 3), np.int8), 1.0, precision=precision)
    q = xo.matmul(a, b, out_scale=2.0, device=device)
    want = np.rint(np.arange(-5, 6) / 2.0).astype(np.int64)  # half to even
    if requantizing(device):  # gemmlowp rounds ties away from zero
        assert np.abs(q[:, 0].astype(np.int64) - want).max() <= 1
    else:
        np.testing.assert_array_equal(q[:, 0], want)
    np.testing.assert_array_equal(want, [-2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2])
    big = xo.matmul(a, b, out_scale=0.001, out_zero_point=-5, device=device)
    np.testing.assert_array_equal(big[:5, 0], -128)
    np.testing.assert_array_equal(big[6:, 0], 127)
    assert big[5, 0] == -5


def test_npusim_lsb_bound_over_many_draws(rng):
    """npusim's fixed-point requantization stays within 1 LSB of the core's
    float rule while sa * sb / out_scale <= 1 (checked: > 0.5 here)."""
    dev = _one_per_backend("int8", "matmul")
    needs_backend("npusim")
    dev = [d.name for d in dev if d.backend == "npusim"]
    worst = 0
    for _ in range(20):
        a = _asym_act(rng, (8, 24))
        b = _asym_w(rng, (24, 16), 1, "int8")
        bias = (rng.standard_normal(16) * 3).astype(np.float32)
        y = xo.matmul(a, b, bias=bias, device="ref")
        s = np.float32(rng.uniform(0.3, 1.0) * np.abs(y).max() / 127)
        assert np.float32(a.scale) * b.scale.max() / s <= 1
        q = xo.matmul(a, b, bias=bias, out_scale=s, device=dev[0])
        worst = max(worst, np.abs(q.astype(np.int64) - twin.qlinear_output(y, s)).max())
    assert worst <= 1


# ---- QuantizeLinear / DequantizeLinear and from_int -------------------------


def test_quantize_linear_ties_and_saturation():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e9, -1e9, 0.49999997], np.float32)
    q = xo.quantize(x, scale=1.0, zero_point=np.int8(0))
    np.testing.assert_array_equal(q.data, [0, 2, 2, 0, -2, -2, 127, -128, 0])
    np.testing.assert_array_equal(q.data, twin.quantize_linear(x, 1.0, 0))
    u = xo.quantize(x, scale=0.5, zero_point=np.uint8(128))
    assert u.data.dtype == np.uint8
    np.testing.assert_array_equal(u.data, twin.quantize_linear(x, 0.5, 128, 0, 255))
    sym = xo.quantize(x, scale=1.0)  # symmetric: +-127, as xpuops' int8
    np.testing.assert_array_equal(sym.data, np.clip(q.data, -127, 127))
    assert sym.symmetric
    i4 = xo.quantize(x, "int4", scale=1.0, zero_point=np.int8(1))
    np.testing.assert_array_equal(i4.data, twin.quantize_linear(x, 1.0, 1, -8, 7))


def test_quantize_linear_per_axis_and_dequantize(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32) * 3
    s = np.array([0.01, 0.02, 0.05, 0.1], np.float32)
    z = np.array([-3, 0, 7, 127], np.int8)
    q = xo.quantize(x, axis=1, scale=s, zero_point=z)
    np.testing.assert_array_equal(q.data, twin.quantize_linear(x, s, z))
    np.testing.assert_array_equal(q.dequantize(), twin.dequantize_linear(q.data, s, z))
    assert q.sqnr_db is not None  # floats behind it: its quantization error


def test_from_int_uint8_maps_exactly(rng):
    u = rng.integers(0, 256, (6, 10)).astype(np.uint8)
    z = rng.integers(0, 256, 10).astype(np.uint8)
    s = (rng.random(10) * 0.1 + 0.01).astype(np.float32)
    qt = xo.QTensor.from_int(u, s, z, axis=1)
    assert qt.data.dtype == np.int8
    np.testing.assert_array_equal(qt.data.astype(np.int64), u.astype(np.int64) - 128)
    np.testing.assert_array_equal(qt.zero_point, z.astype(np.int64) - 128)
    np.testing.assert_array_equal(qt.dequantize(), twin.dequantize_linear(u, s, z))
    assert qt.sqnr_db is None and "no float source" in qt.accuracy_note
    a = xo.QTensor.from_int(rng.integers(0, 256, (3, 6)).astype(np.uint8), 0.1)
    acc = xo.matmul(a, qt, device="ref", out_dtype=np.int32)
    raw_a = a.data.astype(np.int64) + 128  # ONNX's uint8 default zero point 0
    np.testing.assert_array_equal(acc, twin.matmul_integer(raw_a, 0, u, z))


def test_from_int_int4_packed_and_unpacked(rng):
    v = rng.integers(-8, 8, (4, 6)).astype(np.int8)
    packed = (v[:, 1::2].astype(np.uint8) & 15) << 4 | (
        v[:, 0::2].astype(np.uint8) & 15
    )
    s = np.float32(0.5)
    one = xo.QTensor.from_int(v, s, precision="int4")
    two = xo.QTensor.from_int(packed.astype(np.uint8), s, precision="int4")
    np.testing.assert_array_equal(one.data, v)
    np.testing.assert_array_equal(two.data, v)
    assert two.precision == "int4" and two.symmetric == bool(v.min() > -8)
    np.testing.assert_array_equal(two.packed(), packed.reshape(-1))
    a = xo.quantize(rng.standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_array_equal(
        xo.matmul(a, one, device="ref", out_dtype=np.int32),
        twin.matmul_integer(a.data, 0, v, 0),
    )


def test_from_int_keeps_minus_128():
    q = xo.QTensor.from_int(np.array([[-128, 5], [127, 0]], np.int8), 1.0)
    assert not q.symmetric and (q.zero_point == 0).all()
    np.testing.assert_array_equal(q.dequantize(), [[-128, 5], [127, 0]])
    ok = xo.QTensor.from_int(np.array([[-127, 5]], np.int8), 1.0)
    assert ok.symmetric


# ---- conv1d ------------------------------------------------------------------


@pytest.mark.parametrize("device,precision", FLOAT_CONV_DEVICES)
def test_conv1d_is_conv2d_with_h1(device, precision, rng):
    x = rng.standard_normal((2, 4, 19)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    kw = dict(stride=2, padding=2, dilation=2, groups=2, device=device)
    y = xo.conv1d(x, w, bias, precision=precision, **kw)
    y2 = xo.conv2d(
        x[:, :, None],
        w[:, :, None],
        bias,
        precision=precision,
        stride=(1, 2),
        padding=(0, 2),
        dilation=(1, 2),
        groups=2,
        device=device,
    )
    np.testing.assert_array_equal(y, y2[:, :, 0])
    ref = twin.conv2d(
        x[:, :, None].astype(np.float64),
        w[:, :, None].astype(np.float64),
        bias,
        stride=(1, 2),
        pad=((0, 0), (2, 2)),
        dilation=(1, 2),
        groups=2,
    )[:, :, 0]
    assert y.shape == ref.shape
    assert twin.sqnr_db(ref, y) > (15 if precision in ("fp8", "int4") else 25)
    nlc = xo.conv1d(
        x.transpose(0, 2, 1), w, bias, layout="NLC", precision=precision, **kw
    )
    np.testing.assert_array_equal(nlc, y.transpose(0, 2, 1))


def test_conv1d_quantized_with_zero_points(rng):
    x = _asym_act(rng, (1, 3, 12))
    w = _asym_w(rng, (4, 3, 5), 0, "int8")
    y = xo.conv1d(x, w, padding="same", device="ref", out_dtype=np.int32)
    qx, zx = _stored(x)
    qw, zw = _stored(w)
    expect = twin.conv_integer(
        qx[:, :, None], zx, qw[:, :, None], zw.reshape(-1), pad=((0, 0), (2, 2))
    )[:, :, 0]
    np.testing.assert_array_equal(y, expect)


# ---- bad input: clear errors naming the argument and the fix ----------------


def test_errors(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        xo.matmul(a, b, bias=np.zeros(4, np.float32), device="ref")
    with pytest.raises(ValueError, match="out_scale.*precision='int8'"):
        xo.matmul(a, b, out_scale=0.1, device="ref")
    with pytest.raises(
        ValueError, match=r"out_zero_point=200 is outside \[-128, 127\]"
    ):
        xo.matmul(
            a, b, out_scale=0.1, out_zero_point=200, precision="int8", device="ref"
        )
    with pytest.raises(ValueError, match="out_scale must be finite and positive"):
        xo.matmul(a, b, out_scale=0.0, precision="int8", device="ref")
    with pytest.raises(ValueError, match="out_zero_point needs out_scale"):
        xo.matmul(a, b, out_zero_point=1, precision="int8", device="ref")
    qa, qb = xo.quantize(a), xo.quantize(b, axis=1)
    with pytest.raises(ValueError, match="drop one of them"):
        xo.matmul(qa, qb, out_scale=0.1, out_dtype=np.int32, device="ref")
    with pytest.raises(ValueError, match="bias cannot be added to raw int32"):
        xo.matmul(qa, qb, bias=np.zeros(5), out_dtype=np.int32, device="ref")
    with pytest.raises(ValueError, match="finite bias"):
        xo.matmul(qa, qb, bias=np.full(5, np.nan), out_scale=0.1, device="ref")
    with pytest.raises(ValueError, match=r"zero_point must lie in \[-128, 127\]"):
        xo.quantize(a, scale=0.1, zero_point=np.int32(300))
    with pytest.raises(ValueError, match="zero_point needs its scale"):
        xo.quantize(a, zero_point=np.int8(0))
    with pytest.raises(ValueError, match="scale has shape"):
        xo.quantize(a, axis=1, scale=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="finite and positive"):
        xo.quantize(a, scale=-1.0)
    with pytest.raises(ValueError, match=r"uint8 data must lie in \[0, 255\]"):
        xo.QTensor.from_int(np.zeros(3, np.uint8), 1.0, zero_point=300)
    with pytest.raises(ValueError, match=r"\[-8, 7\].*packed two per byte"):
        xo.QTensor.from_int(np.array([9], np.int8), 1.0, precision="int4")
    with pytest.raises(TypeError, match="int8 or uint8"):
        xo.QTensor.from_int(np.zeros(3, np.int32), 1.0)
    with pytest.raises(ValueError, match="scale must be finite and positive"):
        xo.QTensor.from_int(np.zeros(3, np.int8), 0.0)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        xo.conv2d(x, w, np.zeros(2), device="ref")
    with pytest.raises(ValueError, match="out_scale.*precision='int8'"):
        xo.conv2d(x, w, out_scale=1.0, device="ref")
    with pytest.raises(ValueError, match=r"conv1d: x must be 3-d \[N, C, L\]"):
        xo.conv1d(x, w[:, :, 0], device="ref")
    with pytest.raises(TypeError, match="conv1d: stride must be an int"):
        xo.conv1d(x[:, :, 0], w[:, :, 0], stride=(1, 2), device="ref")


def test_measure_scores_bias_and_int8_results(rng):
    """measure's fp64 reference includes the bias, and an int8 result is
    scored as the values it stands for, (q - zero point) * out_scale."""
    a = rng.standard_normal((32, 48)).astype(np.float32)
    b = rng.standard_normal((48, 16)).astype(np.float32)
    bias = np.full(16, 5.0, np.float32)
    m = xo.measure(xo.matmul, a, b, bias=bias, device="ref", precision="fp32")
    assert m.errors["sqnr_db"] > 100  # without the bias it would be ~-5 dB
    y = a.astype(np.float64) @ b + 5
    s = np.float32(np.abs(y).max() / 120)
    kw = dict(bias=bias, out_scale=s, out_zero_point=4, device="ref")
    m = xo.measure(xo.matmul, a, b, precision="int8", **kw)
    # int8 output: about 6 dB per bit, well above an unscaled comparison
    assert 25 < m.errors["sqnr_db"] < 50

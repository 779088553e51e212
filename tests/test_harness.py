"""The cross-device harness: every op x precision x available device, checked
against the ref backend (bit-exact integer accumulators, float within a
bound) and against the pure-NumPy twins."""

import numpy as np
import pytest
import twin
import xpuops as xo
from bounds import (
    ATTN_P_ROUNDING,
    FLOAT,
    INTEGER,
    assert_close,
    check_attention,
    check_conv2d,
    check_matmul,
    inexact,
    matmul_magnitude,
    requantizing,
    rounds_output,
    twin_bound,
)
from conftest import pairs

ALL = FLOAT + INTEGER


MATMUL_SHAPES = [
    ((3, 37, 70), (70, 45)),  # batch folded into M
    ((2, 1, 9, 16), (3, 16, 5)),  # batch broadcast both ways
    ((1, 8, 16), (4, 16, 8)),  # a broadcast over b's batch
    ((1, 1), (1, 1)),  # every dimension 1
    ((1, 33), (33, 7)),  # a decode row, odd sizes
]


@pytest.mark.parametrize("device,precision", pairs(ALL, op="matmul"))
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul(device, precision, sa, sb, rng):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    y = xo.matmul(a, b, device=device, precision=precision)
    assert y.dtype == (np.float64 if precision == "fp64" else np.float32)
    # against fp64 and the twin of what the device claims to compute
    # (tests/bounds.py; per element where SQNR is meaningless)
    check_matmul(device, precision, a, b, y)
    # and against the ref oracle, which the twins check in turn
    y_ref = xo.matmul(a, b, device="ref", precision=precision)
    if precision in INTEGER and not inexact(device):
        qa, qb = xo.quantize(a), xo.quantize(b, precision, axis=-1)
        raw = xo.matmul(qa, qb, device=device, out_dtype=np.int32)
        ref = xo.matmul(qa, qb, device="ref", out_dtype=np.int32)
        np.testing.assert_array_equal(raw, ref)  # accumulators: bit for bit
        if not requantizing(device):
            np.testing.assert_array_equal(y, y_ref)
    elif precision not in INTEGER:
        mag = matmul_magnitude(a, b).max(initial=0)
        assert_close(y_ref, y, twin_bound(device, precision) - 3, mag, "vs ref")


def _raw_pairs():
    return [p for p in pairs(INTEGER, op="matmul") if not inexact(p.values[0])]


@pytest.mark.parametrize("device,precision", _raw_pairs())
def test_matmul_raw_accumulators(device, precision, rng):
    a = rng.standard_normal((2, 19, 64)).astype(np.float32)
    b = rng.standard_normal((64, 33)).astype(np.float32)
    qa = xo.quantize(a, "int8")
    qb = xo.quantize(b, precision, axis=1)
    acc = xo.matmul(qa, qb, device=device, out_dtype=np.int32)
    assert acc.dtype == np.int32
    expect = np.matmul(qa.data.astype(np.int64), qb.data.astype(np.int64))
    np.testing.assert_array_equal(acc, expect)


@pytest.mark.parametrize("device,precision", pairs(ALL, op="conv2d"))
@pytest.mark.parametrize(
    "case",
    [
        dict(x=(2, 6, 11, 13), w=(8, 6, 3, 3), stride=1, padding=1),
        dict(x=(1, 4, 16, 16), w=(6, 2, 3, 3), stride=2, padding=(1, 0), groups=2),
        dict(x=(2, 8, 9, 9), w=(8, 1, 3, 3), padding="same", groups=8),
        dict(x=(1, 3, 12, 10), w=(5, 3, 2, 3), dilation=2, padding="same"),
        dict(x=(1, 5, 7, 7), w=(4, 5, 1, 1), layout="NHWC"),
    ],
    ids=["3x3", "strided-grouped", "depthwise", "dilated-even", "1x1-nhwc"],
)
def test_conv2d(device, precision, case, rng):
    case = dict(case)
    xs, ws = case.pop("x"), case.pop("w")
    layout = case.get("layout", "NCHW")
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    bias = rng.standard_normal(ws[0]).astype(np.float32)
    xin = x.transpose(0, 2, 3, 1).copy() if layout == "NHWC" else x
    y = xo.conv2d(xin, w, bias, device=device, precision=precision, **case)
    if layout == "NHWC":
        y = y.transpose(0, 3, 1, 2)
    pad = _padding(case, ws)
    kw = dict(
        stride=_pair(case.get("stride", 1)),
        pad=pad,
        dilation=_pair(case.get("dilation", 1)),
        groups=case.get("groups", 1),
    )
    # against fp64 and the twin of what the device claims to compute
    check_conv2d(device, precision, x, w, bias, kw, y)
    y_ref = xo.conv2d(xin, w, bias, device="ref", precision=precision, **case)
    if layout == "NHWC":
        y_ref = y_ref.transpose(0, 3, 1, 2)
    if precision in INTEGER and not inexact(device) and not requantizing(device):
        np.testing.assert_array_equal(y, y_ref)
    elif precision in INTEGER and requantizing(device):  # accumulators: ref's
        qx, qw = xo.quantize(x), xo.quantize(w, precision, axis=0)
        cw = {k: v for k, v in case.items() if k != "layout"}
        xq = qx if layout == "NCHW" else xo.quantize(xin)
        raw = xo.conv2d(xq, qw, device=device, out_dtype=np.int32, layout=layout, **cw)
        ref = xo.conv2d(xq, qw, device="ref", out_dtype=np.int32, layout=layout, **cw)
        np.testing.assert_array_equal(raw, ref)
    elif precision not in INTEGER:
        mag = np.abs(y_ref).max(initial=0)
        assert_close(y_ref, y, twin_bound(device, precision) - 3, mag, "vs ref")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _padding(case, ws):
    p = case.get("padding", 0)
    if p == "same":
        d = _pair(case.get("dilation", 1))
        tot = [d[0] * (ws[2] - 1), d[1] * (ws[3] - 1)]
        return (
            (tot[0] // 2, tot[0] - tot[0] // 2),
            (tot[1] // 2, tot[1] - tot[1] // 2),
        )
    p = _pair(p)
    return ((p[0], p[0]), (p[1], p[1]))


@pytest.mark.parametrize(
    "device,precision",
    # openvino has no graph for the int8 scheme: test_openvino checks it says so
    pairs(FLOAT + ("int8",), exclude=[("openvino", "int8")], op="attention"),
)
@pytest.mark.parametrize(
    "shape,causal",
    [
        (((2, 4, 33, 16), (2, 2, 33, 16)), False),
        (((1, 4, 17, 32), (1, 1, 70, 32)), True),
        (((1, 2, 80, 8), (1, 2, 50, 8)), True),
    ],
    ids=["gqa", "causal-lq<lk", "causal-lq>lk"],
)
def test_attention(device, precision, shape, causal, rng):
    q = rng.standard_normal(shape[0]).astype(np.float32)
    k = rng.standard_normal(shape[1]).astype(np.float32)
    v = rng.standard_normal(shape[1]).astype(np.float32)
    y = xo.attention(q, k, v, causal=causal, device=device, precision=precision)
    assert y.shape == q.shape
    # against fp64 and the twin of the scheme (int8) or the rounded inputs
    check_attention(device, precision, q, k, v, causal, y)
    y_ref = xo.attention(q, k, v, causal=causal, device="ref", precision=precision)
    mag = np.abs(v).max()
    if precision == "int8":
        # every backend computes P with the core's exp (the OpenCL kernel
        # and the twin spell out the same float steps): the same bits
        _, y_twin = twin.attention_int8(q, k, v, causal=causal)
        np.testing.assert_array_equal(y, y_twin)
        np.testing.assert_array_equal(y, y_ref)
    else:
        rounded_out = 6 if rounds_output(device, precision) else 0
        bound = ATTN_P_ROUNDING[precision] - rounded_out
        assert_close(y_ref, y, bound, mag, "vs ref")


@pytest.mark.parametrize("device,precision", pairs(ALL))
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_bias(device, precision, sa, sb, rng):
    """Gemm's C: bias [N] added per output column to the float result, in
    its own format (issue 14), whatever the batch broadcasting."""
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    bias = rng.standard_normal(sb[-1]).astype(np.float32)
    y0 = xo.matmul(a, b, device=device, precision=precision)
    y = xo.matmul(a, b, bias=bias, device=device, precision=precision)
    np.testing.assert_array_equal(y, y0 + bias.astype(y0.dtype))


@pytest.mark.parametrize("device,precision", _raw_pairs())
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_zero_points(device, precision, sa, sb, rng):
    """Asymmetric activations (u8) and weights (per-column zero points):
    accumulators equal MatMulInteger's twin bit for bit on every exact
    integer device (issue 14; OpenVINO, inexact, refuses: test_qlinear)."""
    qmax = 7 if precision == "int4" else 127
    a = xo.QTensor.from_int(
        rng.integers(0, 256, sa).astype(np.uint8), 0.05, zero_point=131
    )
    zb = rng.integers(-qmax - 1, qmax + 1, sb[-1]).astype(np.int32)
    b = xo.QTensor.from_int(
        rng.integers(-qmax - 1, qmax + 1, sb).astype(np.int8),
        np.full(sb[-1], 0.01, np.float32),
        zb,
        axis=-1,
        precision=precision,
    )
    acc = xo.matmul(a, b, device=device, out_dtype=np.int32)
    # the uint8 values as given (from_int stores them shifted to int8)
    expect = twin.matmul_integer(a.data.astype(np.int64) + 128, 131, b.data, zb)
    np.testing.assert_array_equal(acc, expect)

"""NumPy-like behaviour: broadcasting, 1-d operands, strides, zero sizes,
dtypes, QTensor operands, inputs never modified, plan reuse."""

import ml_dtypes
import numpy as np
import pytest
import twin
import xpuops as xo
from conftest import SQNR_VS_FP64
from xpuops import _core


def test_plain_call_behaves_like_matmul_operator(rng):
    a = rng.standard_normal((8, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    y = xo.matmul(a, b)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, a @ b, rtol=1e-5, atol=1e-5)
    assert xo.matmul(a.astype(np.float64), b).dtype == np.float64  # fp64


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((7,), (7,)),
        ((7,), (7, 3)),
        ((4, 7), (7,)),
        ((2, 1, 4, 7), (3, 7, 5)),
        ((4, 7), (2, 3, 7, 5)),
        ((1, 4, 7), (6, 7, 2)),
    ],
)
def test_broadcasting_like_numpy(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    y = xo.matmul(a, b, device="ref")
    expect = np.matmul(a, b)
    assert y.shape == expect.shape
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8", "int4"])
def test_non_contiguous_and_broadcast_views(precision, rng):
    base = rng.standard_normal((40, 60)).astype(np.float32)
    a = base[::2, 1::2]  # strided
    b = rng.standard_normal((30, 16)).astype(np.float32)[::-1].T.T  # reversed rows
    bb = np.broadcast_to(b, (3, 30, 16))  # zero batch stride
    y = xo.matmul(a, bb, precision=precision)
    y_c = xo.matmul(
        np.ascontiguousarray(a), np.ascontiguousarray(b), precision=precision
    )
    np.testing.assert_array_equal(y, np.broadcast_to(y_c, (3, 20, 16)))


@pytest.mark.parametrize("precision", ["fp64", "fp32", "fp8", "int8", "int4"])
@pytest.mark.parametrize(
    "shape", [((0, 5), (5, 3)), ((4, 0), (0, 3)), ((4, 5), (5, 0)), ((0, 4, 5), (5, 3))]
)
def test_zero_size(shape, precision):
    a, b = np.ones(shape[0], np.float32), np.ones(shape[1], np.float32)
    y = xo.matmul(a, b, precision=precision)
    np.testing.assert_array_equal(y, np.matmul(a, b))  # K == 0 gives zeros


def test_zero_size_conv_and_attention():
    y = xo.conv2d(np.ones((0, 3, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32))
    assert y.shape == (0, 2, 3, 3)
    q = np.ones((1, 2, 0, 4), np.float32)
    k = np.ones((1, 1, 6, 4), np.float32)
    assert xo.attention(q, k, k).shape == (1, 2, 0, 4)
    # no keys at all: every row sees nothing and gives 0
    k0 = np.ones((1, 1, 0, 4), np.float32)
    np.testing.assert_array_equal(
        xo.attention(np.ones((1, 2, 3, 4), np.float32), k0, k0), 0
    )


@pytest.mark.parametrize(
    "dtype",
    [np.float16, np.float32, np.float64, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn],
)
def test_input_dtypes_select_their_precision(dtype, rng):
    a = rng.standard_normal((6, 9)).astype(dtype)
    b = rng.standard_normal((9, 4)).astype(dtype)
    y = xo.matmul(a, b)
    expect = {
        np.float16: "fp16",
        np.float32: "fp32",
        np.float64: "fp64",
        ml_dtypes.bfloat16: "bf16",
        ml_dtypes.float8_e4m3fn: "fp8",
    }[dtype]
    assert f":matmul_{expect} " in xo.last_info()["impl"]
    # the values are already in the format: only accumulation error remains
    exact = a.astype(np.float64) @ b.astype(np.float64)
    assert twin.sqnr_db(exact, y) > 110


def test_integer_and_list_inputs_are_values():
    y = xo.matmul([[1, 2], [3, 4]], [[5], [6]])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[17], [39]])


def test_qtensor_operands_and_group_wise_int4(rng):
    a = rng.standard_normal((16, 128)).astype(np.float32)
    b = rng.standard_normal((128, 24)).astype(np.float32)
    qa = xo.quantize(a, "int8")
    qb = xo.quantize(b, "int4", axis=-1, group_size=32)
    y = xo.matmul(qa, qb)  # precision from the QTensors: int4 (W4A8)
    assert ":matmul_int4 " in xo.last_info()["impl"]
    # twin: one s32 accumulator per group, summed in f32 in group order
    out = np.zeros((16, 24), np.float32)
    for g in range(4):
        acc = qa.data[:, g * 32 : (g + 1) * 32].astype(np.int64) @ qb.data[
            g * 32 : (g + 1) * 32
        ].astype(np.int64)
        out = out + acc.astype(np.float32) * (qa.scale * qb.scale[g])
    np.testing.assert_array_equal(y, out)
    exact = a.astype(np.float64) @ b
    per_channel = xo.matmul(a, b, precision="int4")
    assert twin.sqnr_db(exact, y) > twin.sqnr_db(exact, per_channel)  # finer scales


def test_asymmetric_operands(rng):
    a = (rng.random((10, 50)) * 4).astype(np.float32)  # non-negative activations
    b = rng.standard_normal((50, 7)).astype(np.float32)
    qa = xo.quantize(a, "int8", symmetric=False)
    qb = xo.quantize(b, "int8", axis=1)
    y = xo.matmul(qa, qb)
    acc = (qa.data.astype(np.int64) - qa.zero_point) @ qb.data.astype(np.int64)
    np.testing.assert_array_equal(y, acc.astype(np.float32) * (qa.scale * qb.scale))
    raw = xo.matmul(qa, qb, out_dtype=np.int32)
    np.testing.assert_array_equal(raw, acc)


def test_conv_qtensor_raw_accumulators(rng):
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    qx, qw = xo.quantize(x), xo.quantize(w, axis=0)
    acc = xo.conv2d(qx, qw, padding=1, out_dtype=np.int32)
    expect = twin.conv2d(
        qx.data.astype(np.int64), qw.data.astype(np.int64), pad=((1, 1), (1, 1))
    )
    np.testing.assert_array_equal(acc, expect)


def test_attention_custom_scale_and_causal_alignment(rng):
    q = rng.standard_normal((1, 2, 3, 8))
    k = rng.standard_normal((1, 2, 5, 8))
    y = xo.attention(q, k, k, causal=True, scale=0.3)
    np.testing.assert_allclose(
        y, twin.attention(q, k, k, causal=True, scale=0.3), rtol=1e-12, atol=1e-12
    )
    # last query row sees every key, first row sees lk - lq + 1 = 3 keys
    full = twin.attention(q[:, :, 2:], k, k, scale=0.3)
    np.testing.assert_allclose(y[:, :, 2:], full, rtol=1e-12)


OPS = {
    "matmul": lambda r, p: (
        (
            r.standard_normal((9, 12)).astype(np.float32),
            r.standard_normal((12, 5)).astype(np.float32),
        ),
        dict(precision=p),
        xo.matmul,
    ),
    "conv2d": lambda r, p: (
        (
            r.standard_normal((1, 3, 8, 8)).astype(np.float32),
            r.standard_normal((4, 3, 3, 3)).astype(np.float32),
            r.standard_normal(4).astype(np.float32),
        ),
        dict(precision=p, padding=1),
        xo.conv2d,
    ),
    "attention": lambda r, p: (
        (
            r.standard_normal((1, 2, 5, 4)).astype(np.float32),
            r.standard_normal((1, 1, 6, 4)).astype(np.float32),
            r.standard_normal((1, 1, 6, 4)).astype(np.float32),
        ),
        dict(precision=p, causal=True),
        xo.attention,
    ),
}


@pytest.mark.parametrize(
    "op,precision",
    # attention has no int4 scheme: test_errors checks that it raises
    [(o, p) for o in OPS for p in SQNR_VS_FP64 if (o, p) != ("attention", "int4")],
)
def test_inputs_never_modified(op, precision, rng):
    args, kw, fn = OPS[op](rng, precision)
    keep = [a.copy() for a in args]
    for a in args:
        a.flags.writeable = False  # any write would raise
    fn(*args, **kw)
    for a, k in zip(args, keep, strict=True):
        np.testing.assert_array_equal(a, k)


def test_repeated_calls_reuse_the_plan(rng):
    a = rng.standard_normal((13, 17)).astype(np.float32)
    b = rng.standard_normal((17, 11)).astype(np.float32)
    xo.matmul(a, b, precision="int8")
    assert xo.last_info()["plan_created"]
    before = _core.cache_stats()["plans_created"]
    for _ in range(5):
        xo.matmul(a * 2, b, precision="int8")  # new values, same problem
        assert not xo.last_info()["plan_created"]
    assert _core.cache_stats()["plans_created"] == before
    xo.matmul(a[:5], b, precision="int8")  # new shape: a new plan
    assert _core.cache_stats()["plans_created"] == before + 1


def test_plan_cache_is_bounded(rng):
    b = np.ones((3, 2), np.float32)
    cap = _core.cache_stats()["capacity"]
    for m in range(1, cap + 20):
        xo.matmul(np.ones((m, 3), np.float32), b)
    s = _core.cache_stats()
    assert s["entries"] <= cap and s["evictions"] >= 19


def test_last_info_reports_counts(rng):
    xo.matmul(
        np.ones((4, 6), np.float32), np.ones((6, 5), np.float32), precision="int8"
    )
    info = xo.last_info()
    assert info["ops"] == 2 * 4 * 5 * 6
    assert info["bytes"] == 4 * 6 + 6 * 5 + 4 * 5 * 4  # s8, s8, f32 out
    xo.attention(
        np.ones((1, 1, 4, 2)), np.ones((1, 1, 4, 2)), np.ones((1, 1, 4, 2)), causal=True
    )
    assert xo.last_info()["ops"] == 4 * 2 * (1 + 2 + 3 + 4)  # visible pairs only


def test_empty_batch_with_zero_stride_reads_nothing():
    # NumPy gives an empty batch a stride of 0; it must not be read as one
    # matrix (ASan caught a read past the buffer here)
    a = np.ones((0, 4, 5), np.float32)
    b = np.ones((5, 3), np.float32)
    for precision in ("fp64", "fp32", "int8"):
        assert xo.matmul(a, b, precision=precision).shape == (0, 4, 3)


def test_fast_path_refuses_what_the_slow_path_refuses():
    # the C fast path serves a device string once the slow path has seen it;
    # byte-swapped arrays must still get the slow path's TypeError
    a = np.ones((4, 4), np.float32)
    xo.matmul(a, a, device="ref")
    swapped = a.astype(">f4")
    with pytest.raises(TypeError, match="dtype"):
        xo.matmul(swapped, swapped, device="ref")


def test_qtensor_cannot_be_changed_under_its_cache_token():
    q = xo.quantize(np.ones((4, 4), np.float32), axis=1)
    with pytest.raises(AttributeError, match="immutable"):
        q.scale = np.ones(4, np.float32)
    with pytest.raises(ValueError):
        q.data.flags.writeable = True


def test_empty_reduction_runs_no_kernel():
    y = xo.matmul(
        np.ones((3, 0), np.float32), np.ones((0, 2), np.float32), device="onednn"
    )
    assert (y == 0).all() and y.shape == (3, 2)
    assert xo.last_info()["impl"].startswith("core:matmul_fp32 (empty reduction")

"""quantize() follows DESIGN.md s2 exactly: float32 arithmetic, round half to
even, symmetric clipping at +-qmax, all-zero slices with scale 1,
per-tensor, per-axis, group-wise and asymmetric."""

import numpy as np
import pytest
import twin
import xpuops as xo


def test_round_half_to_even_and_clip():
    # max|x| = 127 gives scale 1 exactly, so x / scale = x
    x = np.array([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, -126.5], np.float32)
    q = xo.quantize(x)
    assert q.scale == np.float32(1)
    np.testing.assert_array_equal(q.data, [127, 0, 2, 2, 0, -2, -2, 3, -126])


def test_symmetric_range_is_plus_minus_qmax():
    x = np.array([-1000.0, 1000.0, 3.0], np.float32)
    for prec, qmax in (("int8", 127), ("int4", 7)):
        q = xo.quantize(x, prec)
        assert q.data.min() == -qmax and q.data.max() == qmax
        assert q.scale == np.float32(1000) / np.float32(qmax)


def test_all_zero_slice_gets_scale_one():
    b = np.zeros((4, 3), np.float32)
    b[:, 1] = [1, -2, 3, 0.5]
    q = xo.quantize(b, axis=1)
    np.testing.assert_array_equal(q.scale, [1, np.float32(3) / 127, 1])
    np.testing.assert_array_equal(q.data[:, 0], 0)


@pytest.mark.parametrize("precision", ["int8", "int4"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("symmetric", [True, False])
def test_matches_twin(precision, axis, symmetric, rng):
    x = (rng.standard_normal((5, 6, 7)) * 3 + 0.7).astype(np.float64)
    q = xo.quantize(x, precision, axis=axis, symmetric=symmetric)
    tq, ts, tz = twin.quantize(x, precision, axis=axis, symmetric=symmetric)
    np.testing.assert_array_equal(q.data, tq)
    np.testing.assert_array_equal(q.scale, ts.reshape(q.scale.shape))
    np.testing.assert_array_equal(q.zero_point, tz.reshape(q.zero_point.shape))
    assert q.data.dtype == (np.int8 if symmetric else np.uint8)
    # dequantize() inverts within half a step per element
    s = ts if axis is None else ts
    err = np.abs(q.dequantize() - x.astype(np.float32))
    assert np.all(err <= s * 0.5001 + 1e-7)


@pytest.mark.parametrize("symmetric", [True, False])
def test_group_wise_along_k(symmetric, rng):
    b = rng.standard_normal((64, 24)).astype(np.float32)
    q = xo.quantize(b, "int4", axis=-1, group_size=16, symmetric=symmetric)
    assert q.scale.shape == (4, 24)  # [K / group_size, N]
    tq, ts, tz = twin.quantize(b, "int4", axis=-1, group_size=16, symmetric=symmetric)
    np.testing.assert_array_equal(q.data, tq)
    np.testing.assert_array_equal(q.scale, ts[::16])
    np.testing.assert_array_equal(q.zero_point, tz[::16])
    assert np.abs(q.dequantize() - b).max() <= ts.max() * 0.5001


def test_group_wise_conv_weight_axis0(rng):
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    q = xo.quantize(w, "int4", axis=0, group_size=3)  # groups along the last axis
    assert q.scale.shape == (4, 1)
    tq, ts, _ = twin.quantize(w, "int4", axis=0, group_size=3)
    np.testing.assert_array_equal(q.data, tq)


def test_asymmetric_zero_is_exact(rng):
    x = np.abs(rng.standard_normal(100)).astype(np.float32) + 1  # all positive
    x[3] = 0
    q = xo.quantize(x, symmetric=False)
    assert q.dequantize()[3] == 0  # zero is representable
    assert q.data.dtype == np.uint8 and q.zero_point == 0


def test_float64_input_is_rounded_to_float32_first():
    x = np.array([1 + 2.0**-30, 127.0])
    np.testing.assert_array_equal(
        xo.quantize(x).data, xo.quantize(x.astype(np.float32)).data
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(bad):
    x = np.array([1.0, bad, 2.0], np.float32)
    with pytest.raises(ValueError, match="finite"):
        xo.quantize(x)
    with pytest.raises(ValueError, match="finite"):
        xo.matmul(x.reshape(1, 3), np.ones((3, 2), np.float32), precision="int8")


def test_quantize_does_not_modify_input(rng):
    x = rng.standard_normal((8, 8)).astype(np.float32)
    keep = x.copy()
    xo.quantize(x, "int4", axis=0, symmetric=False)
    np.testing.assert_array_equal(x, keep)


def test_int4_packed(rng):
    q = xo.quantize(rng.standard_normal(9), "int4")
    p = q.packed()
    assert p.dtype == np.uint8 and p.shape == (5,)
    lo = (p & 0xF).astype(np.int8)
    np.testing.assert_array_equal(np.where(lo > 7, lo - 16, lo)[:4], q.data[0:8:2])


def test_bad_arguments():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="int8' or 'int4"):
        xo.quantize(x, "fp16")
    with pytest.raises(np.exceptions.AxisError):
        xo.quantize(x, axis=2)
    with pytest.raises(ValueError, match="group_size needs an axis"):
        xo.quantize(x, "int4", group_size=2)
    with pytest.raises(ValueError, match="divide"):
        xo.quantize(x, "int4", axis=1, group_size=2)
    with pytest.raises(TypeError, match="complex"):
        xo.quantize(x.astype(np.complex64))


@pytest.mark.parametrize(
    "precision, kw",
    [
        ("int8", {}),
        ("int8", {"axis": 0, "symmetric": False}),
        ("int4", {"axis": 0, "group_size": 8, "group_axis": 1}),
    ],
)
def test_qtensor_pickles(precision, kw, rng):
    """A QTensor travels to another process (multiprocessing, a Dask
    worker) as its values and layout: equal values, a new token, the
    quantization SQNR kept; the link to the original floats stays behind."""
    import pickle

    q = xo.quantize(rng.standard_normal((16, 32)).astype(np.float32), precision, **kw)
    back = pickle.loads(pickle.dumps(q))
    for name in ("data", "scale", "zero_point"):
        np.testing.assert_array_equal(getattr(back, name), getattr(q, name))
    for name in ("axis", "group_size", "group_axis", "precision", "symmetric"):
        assert getattr(back, name) == getattr(q, name)
    assert back.sqnr_db == q.sqnr_db and back._token != q._token
    assert not back.data.flags.writeable


def test_conv1d_lifts_a_qtensor_once(rng):
    """conv1d runs as conv2d on its operands with a unit axis: a QTensor's
    lifted form is made once, shares its arrays and keeps its token, so a
    backend finds what it prepared from it on the next call."""
    w = xo.quantize(rng.standard_normal((8, 4, 3)).astype(np.float32), axis=0)
    x = rng.standard_normal((1, 4, 20)).astype(np.float32)
    y1 = xo.conv1d(x, w, device="ref")
    lifted = w._expanded(2)
    y2 = xo.conv1d(x, w, device="ref")
    assert w._expanded(2) is lifted and np.shares_memory(lifted.data, w.data)
    assert lifted.data.shape == (8, 4, 1, 3) and lifted.axis == 0
    np.testing.assert_array_equal(y1, y2)

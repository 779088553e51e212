"""Property-based fuzzing of the public API (hypothesis): random shapes
(0 and 1 included), dtypes, strides (negative, broadcast, non-contiguous),
values (NaN, Inf, subnormals, huge, all-zero), devices and precisions. The
invariant: a documented exception, or a result that agrees with the NumPy
twin within the precision's bound; integer accumulators always exact.

CI runs a bounded budget (XPUOPS_FUZZ_EXAMPLES, default 500 per property);
`make fuzz` runs a long one."""

import os

import ml_dtypes
import numpy as np
import xpuops as xo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("XPUOPS_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DEVICES = [d for d in xo.devices() if d.available]
DTYPES = [np.float64, np.float32, np.float16, ml_dtypes.bfloat16]
#: documented failures of a valid call, by exception type
DOCUMENTED = (ValueError, TypeError, xo.UnsupportedError, MemoryError)
#: least SQNR (dB) against fp64 for well-conditioned data, per precision
BOUND = {
    "fp64": 200,
    "fp32": 90,
    "bf16": 30,
    "fp16": 45,
    "fp8": 14,
    "int8": 22,
    "int4": 6,
}

values = st.sampled_from(["normal", "zeros", "tiny", "huge", "nan", "inf", "mixed"])


def fill(rng, shape, kind, dtype):
    if kind == "zeros":
        x = np.zeros(shape)
    elif kind == "tiny":
        x = rng.standard_normal(shape) * 1e-40  # subnormal in float32
    elif kind == "huge":
        x = rng.standard_normal(shape) * 1e30
    else:
        x = rng.standard_normal(shape)
    if x.size and kind in ("nan", "inf", "mixed"):
        x.flat[rng.integers(x.size)] = np.nan if kind != "inf" else np.inf
    return x.astype(dtype)


def view(x, how):
    """The same values through another memory layout."""
    if how == "reversed" and x.ndim:
        return np.flip(x, axis=-1).copy()[..., ::-1]
    if how == "strided":
        big = np.repeat(x, 2, axis=-1) if x.ndim else x
        return big[..., ::2] if x.ndim else x
    if how == "fortran":
        return np.asfortranarray(x)
    return x


@FUZZ
@given(
    m=st.integers(0, 9),
    k=st.integers(0, 9),
    n=st.integers(0, 9),
    batch=st.sampled_from([(), (1,), (2,), (2, 1)]),
    dtype=st.sampled_from(DTYPES),
    kind=values,
    layout=st.sampled_from(["plain", "reversed", "strided", "fortran"]),
    dev=st.sampled_from(DEVICES),
    prec=st.sampled_from(list(xo.PRECISIONS)),
    seed=st.integers(0, 2**16),
)
def test_matmul_property(m, k, n, batch, dtype, kind, layout, dev, prec, seed):
    rng = np.random.default_rng(seed)
    a = view(fill(rng, (*batch, m, k), kind, dtype), layout)
    b = fill(rng, (k, n), "normal", dtype)
    keep = a.copy()
    try:
        y = xo.matmul(a, b, device=dev.name, precision=prec)
    except DOCUMENTED as e:
        msg = str(e)
        assert msg  # every refusal says why
        if prec in dev.precisions and kind in ("normal", "zeros", "tiny"):
            # a supported call on finite data may only be refused for a
            # documented shape reason, never by surprise
            assert isinstance(e, xo.UnsupportedError) or "int" in msg, msg
        return
    finally:
        assert a.tobytes() == keep.tobytes()  # never modified (NaNs included)
    assert y.shape == (*batch, m, n)
    exact = np.matmul(a.astype(np.float64), b.astype(np.float64))
    if kind in ("normal",) and y.size > 4 and np.abs(exact).max() > 1e-3:
        assert xo.reference.sqnr_db(exact, y) > BOUND[prec] - 10
    if kind == "zeros":
        assert not np.any(y)


@FUZZ
@given(
    prec=st.sampled_from(["int8", "int4"]),
    m=st.integers(1, 8),
    k=st.integers(1, 64),
    n=st.integers(1, 8),
    dev=st.sampled_from([d for d in DEVICES if d.exact_integer]),
    seed=st.integers(0, 2**16),
)
def test_integer_accumulators_always_exact(prec, m, k, n, dev, seed):
    rng = np.random.default_rng(seed)
    qa = xo.quantize(rng.standard_normal((m, k)))
    qb = xo.quantize(rng.standard_normal((k, n)), prec, axis=1)
    want = qa.data.astype(np.int64) @ qb.data.astype(np.int64)
    try:
        got = xo.matmul(qa, qb, device=dev.name, out_dtype=np.int32)
    except xo.UnsupportedError:
        assert prec not in dev.precisions or dev.backend == "openvino"
        return
    np.testing.assert_array_equal(got, want)


@FUZZ
@given(
    n=st.integers(0, 2),
    c=st.integers(1, 4),
    hw=st.integers(1, 7),
    oc=st.integers(1, 4),
    kk=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dil=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    dev=st.sampled_from(DEVICES),
    prec=st.sampled_from(["fp32", "int8", "bf16"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_property(n, c, hw, oc, kk, stride, pad, dil, groups, dev, prec, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c * groups, hw, hw)).astype(np.float32)
    w = rng.standard_normal((oc * groups, c, kk, kk)).astype(np.float32)
    try:
        y = xo.conv2d(
            x,
            w,
            stride=stride,
            padding=pad,
            dilation=dil,
            groups=groups,
            device=dev.name,
            precision=prec,
        )
    except DOCUMENTED as e:
        assert str(e)
        return
    exact = xo.reference.conv2d(
        x.astype(np.float64),
        w.astype(np.float64),
        stride=(stride, stride),
        pad=((pad, pad), (pad, pad)),
        dilation=(dil, dil),
        groups=groups,
    )
    assert y.shape == exact.shape
    if y.size > 4:
        assert xo.reference.sqnr_db(exact, y) > BOUND[prec] - 10


@FUZZ
@given(
    b=st.integers(1, 2),
    hkv=st.integers(1, 2),
    rep=st.integers(1, 3),
    lq=st.integers(0, 9),
    lk=st.integers(0, 9),
    d=st.sampled_from([1, 4, 8]),
    causal=st.booleans(),
    dev=st.sampled_from(DEVICES),
    prec=st.sampled_from(["fp32", "fp16", "int8"]),
    seed=st.integers(0, 2**16),
)
def test_attention_property(b, hkv, rep, lq, lk, d, causal, dev, prec, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, hkv * rep, lq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, lk, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, lk, d)).astype(np.float32)
    try:
        y = xo.attention(q, k, v, causal=causal, device=dev.name, precision=prec)
    except DOCUMENTED as e:
        assert str(e)
        return
    exact = xo.reference.attention(q, k, v, causal=causal)
    assert y.shape == q.shape and np.all(np.isfinite(y))
    if y.size > 8 and np.abs(exact).max() > 1e-3:
        assert xo.reference.sqnr_db(exact, y) > BOUND[prec] - 15

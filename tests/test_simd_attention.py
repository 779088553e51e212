"""The simd backend's attention kernels (csrc/backends/simd/simd_attention.c):
fp32 and bf16 held to the attention bounds against fp64 and the rounded twin,
int8 (scheme v2) bit for bit equal to ref and to tests/twin.py, over GQA,
the bottom-right causal mask with Lq < Lk and Lq > Lk (rows that see no key
give 0), every head size the kernels are tuned for plus odd ones, and the
split-K decode kernel (Lq <= 16); issue 14's arguments (windows, masks,
softcap, kv_lengths, Dv != D, an int8 KV cache) at sizes where the prefill
kernels' row blocks and key panels span several tiles (tests/
test_attention_args.py has the small cross-device cases). Every ISA level
this CPU has runs in a fresh process under XPUOPS_MAX_ISA
(tests/subproc.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import twin
import xpuops as xo
from bounds import check_attention
from conftest import needs_backend
from subproc import python

SIMD = next((d for d in xo.devices() if d.name == "simd"), None)


@pytest.fixture(autouse=True)
def _simd_present():
    """CI requires simd (XPUOPS_REQUIRE): its absence fails; elsewhere (a
    CPU without AVX2) the tests skip with the reason."""
    needs_backend("simd")


PRECISIONS = ("fp32", "bf16", "int8")

#: (q shape, k shape, causal): GQA, causal both ways, head sizes, decode
SHAPES = {
    "gqa": ((2, 4, 33, 16), (2, 2, 33, 16), False),
    "causal-lq<lk": ((1, 4, 40, 32), (1, 1, 150, 32), True),
    "causal-lq>lk": ((1, 2, 90, 8), (1, 2, 50, 8), True),
    "d64": ((1, 2, 70, 64), (1, 2, 130, 64), True),
    "d80": ((1, 2, 50, 80), (1, 1, 70, 80), False),
    "d96": ((1, 2, 40, 96), (1, 2, 90, 96), True),
    "d128": ((1, 4, 100, 128), (1, 2, 100, 128), True),
    "d256": ((1, 2, 30, 256), (1, 1, 70, 256), False),
    "d13-odd": ((1, 3, 70, 13), (1, 1, 90, 13), True),
    "d1": ((1, 1, 20, 1), (1, 1, 20, 1), False),
    # the decode kernel: few rows, the keys split over threads and merged
    "decode-lq1-gqa": ((1, 8, 1, 128), (1, 2, 3000, 128), False),
    "decode-lq4-causal": ((1, 4, 4, 64), (1, 1, 2500, 64), True),
    "decode-lq16-d80": ((2, 4, 16, 80), (2, 2, 700, 80), True),
    "decode-lq3-sees-none": ((1, 2, 3, 8), (1, 1, 2, 8), True),
    # an odd head size: AVX2 runs the padded-copy decode kernel
    "decode-d13-odd": ((1, 4, 2, 13), (1, 2, 600, 13), True),
}


def expects_decode(q, k, v, precision, impl):
    """Whether simd_attention.c's plan takes a split-K decode kernel here
    (impl names the ISA level that ran): floats at Lq <= 16 on every level;
    int8 also while 4 x the rows reading a kv head <= d (their scores stay
    under K's bytes), on AVX2 only for d and dv multiples of 16."""
    lq, d, dv = q.shape[2], q.shape[3], v.shape[3]
    if lq > 16:
        return False
    if precision != "int8":
        return True
    if 4 * (q.shape[1] // k.shape[1]) * lq > d:
        return False
    return "AVX512" in impl or (d % 16 == 0 and dv % 16 == 0)


def _data(shape, seed=0):
    qs, ks, causal = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(qs).astype(np.float32)
    k = rng.standard_normal(ks).astype(np.float32)
    v = rng.standard_normal(ks).astype(np.float32)
    return q, k, v, causal


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", list(SHAPES))
def test_attention(name, precision):
    q, k, v, causal = _data(SHAPES[name])
    y = xo.attention(q, k, v, causal=causal, device="simd", precision=precision)
    impl = xo.last_info()["impl"]
    assert impl.startswith(f"simd:attention_{precision}"), impl
    if expects_decode(q, k, k, precision, impl):
        assert "split-K" in impl and "decode" in impl, impl
    # fp64 and the rounded twin (float), or the scheme's twin bit for bit
    check_attention("simd", precision, q, k, v, causal, y)
    if precision == "int8":
        ref = xo.attention(q, k, v, causal=causal, device="ref", precision="int8")
        np.testing.assert_array_equal(y, ref)
    # rows that see no key (causal, Lq > Lk) give exactly 0
    lq, lk = q.shape[2], k.shape[2]
    if causal and lq > lk:
        assert not np.any(y[:, :, : lq - lk])
        assert np.all(np.any(y[:, :, lq - lk :] != 0, axis=-1))


def _args_case(name, seed=0):
    """(q, k, v, causal, kwargs) of one argument case, prefill-sized (Lq
    beyond the decode kernel, several row blocks and key panels) or decode"""
    rng = np.random.default_rng(seed)
    b, h, hkv, lq, lk, d, dv = 2, 4, 2, 70, 150, 24, 24
    causal, kw = False, {}
    if name == "window-band":  # each block of rows visits its band only
        lq = lk = 200
        causal, kw = True, {"window": (37, 0)}
    elif name == "window-two-sided-top-left":
        causal, kw = "top-left", {"window": (20, 45)}
    elif name == "kv_lengths":
        b = 3
        kw = {"kv_lengths": np.array([150, 0, 61])}
    elif name == "mask-float-bcast-softcap":
        m = rng.standard_normal((1, h, 1, lk)).astype(np.float32)
        m[..., 5::7] = -np.inf
        causal, kw = True, {"mask": m, "softcap": 2.5}
    elif name == "mask-bool-rows-unseen":
        m = rng.random((b, 1, lq, lk)) < 0.3
        m[:, :, 10:14] = False  # rows that see no key
        kw = {"mask": m}
    elif name == "dv-wide":
        d, dv = 40, 72
    elif name == "decode-window-mask":
        lq, lk, d, dv = 3, 700, 64, 48
        m = rng.random((b, h, lq, lk)) < 0.9
        causal, kw = True, {"window": (300, 0), "mask": m, "softcap": 5.0}
    elif name == "decode-kv_lengths":
        lq, lk, d = 1, 900, 128
        kw = {"kv_lengths": np.array([900, 333])}
    elif name == "decode-kv0-topleft":  # a batch with no key; top-left rows
        lq, lk, d, dv = 4, 700, 64, 64
        causal, kw = "top-left", {"kv_lengths": np.array([0, 650])}
    elif name == "decode-neginf-mask":  # -inf keys and a row that sees none
        lq, lk, d, dv = 2, 700, 64, 32
        m = rng.standard_normal((b, 1, lq, lk)).astype(np.float32)
        m[rng.random(m.shape) < 0.3] = -np.inf
        m[0, 0, 1] = -np.inf
        kw = {"mask": m}
    else:
        raise AssertionError(name)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return (
        normal(b, h, lq, d),
        normal(b, hkv, lk, d),
        normal(b, hkv, lk, dv),
        causal,
        kw,
    )


ARG_CASES = [
    "window-band",
    "window-two-sided-top-left",
    "kv_lengths",
    "mask-float-bcast-softcap",
    "mask-bool-rows-unseen",
    "dv-wide",
    "decode-window-mask",
    "decode-kv_lengths",
    "decode-kv0-topleft",
    "decode-neginf-mask",
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", ARG_CASES)
def test_arguments(name, precision):
    q, k, v, causal, kw = _args_case(name)
    y = xo.attention(q, k, v, causal=causal, device="simd", precision=precision, **kw)
    assert y.shape == q.shape[:3] + (v.shape[3],)
    check_attention("simd", precision, q, k, v, causal, y, **kw)
    if precision == "int8":
        ref = xo.attention(q, k, v, causal=causal, device="ref", precision="int8", **kw)
        np.testing.assert_array_equal(y, ref)
    full = y.shape[:3] + (k.shape[2],)
    shape = (q.shape[0], q.shape[2], k.shape[2])
    vis = twin.visibility(shape, causal, kw.get("window"), kw.get("kv_lengths"))
    vis = np.broadcast_to(vis, full)
    if "mask" in kw:
        m = np.asarray(kw["mask"])
        vis = vis & np.broadcast_to(m if m.dtype == bool else m != -np.inf, full)
    # rows that see no key give exactly 0, the others do not
    unseen = ~vis.any(axis=-1)
    assert not np.any(y[unseen])
    assert np.all(np.any(y[~unseen] != 0, axis=-1))


@pytest.mark.parametrize("name", ["kv_lengths", "decode-kv_lengths"])
def test_int8_kv_cache(name):
    """int8 QTensor K (per key) and V (per channel): the cache's scales, K
    not centred; ref's bits, on the prefill and the decode shapes."""
    q, k, v, causal, kw = _args_case(name, seed=1)
    kq = xo.quantize(k, "int8", axis=2)
    vq = xo.quantize(v, "int8", axis=3)
    y = xo.attention(q, kq, vq, causal=causal, device="simd", **kw)
    check_attention("simd", "int8", q, kq, vq, causal, y, **kw)
    ref = xo.attention(q, kq, vq, causal=causal, device="ref", **kw)
    np.testing.assert_array_equal(y, ref)


def test_int8_matches_twin_scores():
    """int8 with peaky scores (q x 3, DESIGN's second accuracy case): still
    the twin's bits, many P̃ at 0 and 255."""
    q, k, v, causal = _data(SHAPES["d128"], seed=3)
    q *= 3
    y = xo.attention(q, k, v, causal=causal, device="simd", precision="int8")
    _, want = twin.attention_int8(q, k, v, causal=causal)
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_threads(precision):
    """One thread and two give the same integers, and floats within the
    bound (the split over keys changes with the thread count)."""
    for name in ("d128", "decode-lq1-gqa"):
        q, k, v, causal = _data(SHAPES[name], seed=5)
        old = xo.get_num_threads()
        try:
            xo.set_num_threads(1)
            one = xo.attention(
                q, k, v, causal=causal, device="simd", precision=precision
            )
            xo.set_num_threads(2)
            two = xo.attention(
                q, k, v, causal=causal, device="simd", precision=precision
            )
        finally:
            xo.set_num_threads(old)
        if precision == "int8":
            np.testing.assert_array_equal(one, two)
        else:
            check_attention("simd", precision, q, k, v, causal, two)
            np.testing.assert_allclose(one, two, rtol=1e-3, atol=1e-3)


#: every level XPUOPS_MAX_ISA names (simd.c); a level this CPU lacks caps to
#: the one below it, which the child reports and the test skips
LEVELS = [
    "AVX2",
    "AVX2_VNNI",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
]

_CHILD = r"""
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np, xpuops as xo
from bounds import check_attention
import test_simd_attention as t
dev = next(d for d in xo.devices() if d.name == "simd")
out = {{"full_name": dev.full_name, "impl": []}}
for name in ("gqa", "causal-lq>lk", "d80", "d13-odd", "decode-lq4-causal",
             "decode-lq1-gqa", "decode-lq3-sees-none", "decode-d13-odd"):
    q, k, v, causal = t._data(t.SHAPES[name])
    for prec in t.PRECISIONS:
        y = xo.attention(q, k, v, causal=causal, device="simd", precision=prec)
        impl = xo.last_info()["impl"]
        out["impl"].append(impl)
        if t.expects_decode(q, k, v, prec, impl):
            assert "split-K" in impl and "decode" in impl, impl
        check_attention("simd", prec, q, k, v, causal, y)
        if prec == "int8":
            r = xo.attention(q, k, v, causal=causal, device="ref", precision=prec)
            np.testing.assert_array_equal(y, r)
for name in ("window-band", "mask-float-bcast-softcap", "dv-wide",
             "decode-window-mask", "decode-kv0-topleft", "decode-neginf-mask"):
    q, k, v, causal, kw = t._args_case(name)
    for prec in t.PRECISIONS:
        y = xo.attention(q, k, v, causal=causal, device="simd", precision=prec,
                         **kw)
        out["impl"].append(xo.last_info()["impl"])
        check_attention("simd", prec, q, k, v, causal, y, **kw)
        if prec == "int8":
            r = xo.attention(q, k, v, causal=causal, device="ref",
                             precision=prec, **kw)
            np.testing.assert_array_equal(y, r)
print(json.dumps(out))
"""


@pytest.mark.parametrize("level", LEVELS)
def test_isa_level(level):
    code = _CHILD.format(tests=os.path.dirname(__file__))
    r = python(code, timeout=300, XPUOPS_MAX_ISA=level)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    # the device names the highest level the cap leaves (simd.c describe)
    top = got["full_name"].split(", ")[1]
    if top != level:
        pytest.skip(f"this CPU lacks {level}: capped to {top}")
    order = {name: i for i, name in enumerate(LEVELS)}
    for impl in got["impl"]:
        isa = impl.rstrip(")").rsplit(", ", 1)[1]
        assert order[isa] <= order[level], f"{impl} ran above XPUOPS_MAX_ISA={level}"

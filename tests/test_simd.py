"""The simd backend's matmul (issue #12): integer results bit-identical to
ref at every ISA level this CPU has (lesser levels reached by capping with
XPUOPS_MAX_ISA in a subprocess), float results within their bounds, and
the weight cache keyed by the QTensor's token."""

from __future__ import annotations

import json

import numpy as np
import pytest
import subproc
import twin
import xpuops as xo
from bounds import SQNR_VS_TWIN, assert_close
from conftest import needs_backend
from xpuops.api.cpu import cpu_info


@pytest.fixture(autouse=True)
def _simd_present():
    """CI requires simd (XPUOPS_REQUIRE): its absence fails; elsewhere (a
    CPU without AVX2) the tests skip with the reason."""
    needs_backend("simd")


#: XPUOPS_MAX_ISA level -> the /proc/cpuinfo flags it needs (simd.c's rule)
_AVX512 = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"}
LEVELS = {
    "AVX2": {"avx2", "fma", "f16c"},
    "AVX2_VNNI": {"avx2", "fma", "f16c", "avx_vnni"},
    "AVX512_CORE": _AVX512,
    "AVX512_CORE_VNNI": _AVX512 | {"avx512_vnni"},
    "AVX512_CORE_BF16": _AVX512 | {"avx512_bf16"},
}
#: level -> (integer kernels, bf16 kernels, fp32 kernels) the plan must name
KERNELS = {
    "AVX2": ("avx2 vpdpbusd emulated", "avx2 bf16 widened", "avx2 FMA"),
    "AVX2_VNNI": ("avx2 vpdpbusd emulated", "avx2 bf16 widened", "avx2 FMA"),
    "AVX512_CORE": ("avx512 vpdpbusd emulated", "avx512 bf16 widened", "avx512 FMA"),
    "AVX512_CORE_VNNI": ("avx512_vnni vpdpbusd,", None, "avx512 FMA"),
    "AVX512_CORE_BF16": (None, "avx512_bf16 vdpbf16ps", "avx512 FMA"),
}


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def both(a, b, **kw):
    """(ref's result, simd's result) of one matmul."""
    return xo.matmul(a, b, device="ref", **kw), xo.matmul(a, b, device="simd", **kw)


SHAPES = [(m, k, n) for m in (1, 2, 3, 4, 5, 8, 17, 31, 32, 33) for k, n in [(37, 65)]]
SHAPES += [(1, 1, 1), (2, 3, 130), (4, 257, 64), (1, 640, 200), (6, 1000, 129)]


@pytest.mark.parametrize("precision", ["int8", "int4"])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_integer_results_match_ref_bit_for_bit(precision, m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    qa = xo.quantize(rand(rng, m, k))
    qb = xo.quantize(rand(rng, k, n), precision, axis=1)
    want, got = both(qa, qb, out_dtype=np.int32)
    np.testing.assert_array_equal(got, want)
    want, got = both(qa, qb)
    np.testing.assert_array_equal(got, want)
    # float operands quantized by the core (no cache token) alike
    a, b = rand(rng, m, k), rand(rng, k, n)
    want, got = both(a, b, precision=precision)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("precision", ["int8", "int4"])
@pytest.mark.parametrize("a_sym", [True, False])
@pytest.mark.parametrize("b_sym", [True, False])
@pytest.mark.parametrize("gran", ["tensor", "axis"])
def test_zero_points_match_ref(precision, a_sym, b_sym, gran):
    """Activation and weight zero points through the identity sum (a - za)
    (w - zw) = sum a w - za sum w - zw sum a + K za zw."""
    rng = np.random.default_rng(7)
    m, k, n = 5, 203, 77
    # shifted data, so the asymmetric zero points are far from the middle
    qa = xo.quantize(rand(rng, m, k) + 1.5, symmetric=a_sym)
    axis = None if gran == "tensor" else 1
    qb = xo.quantize(rand(rng, k, n) - 0.7, precision, axis=axis, symmetric=b_sym)
    want, got = both(qa, qb, out_dtype=np.int32)
    np.testing.assert_array_equal(got, want)
    want, got = both(qa, qb)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("precision", ["int4", "int8"])
@pytest.mark.parametrize("group", [8, 32, 64, 128])
@pytest.mark.parametrize("b_sym", [True, False])
@pytest.mark.parametrize("m", [1, 3, 32, 33])
def test_group_wise_weights_match_ref(precision, group, b_sym, m):
    """One s32 sum per group, dequantized and added in group order as ref;
    group lengths that are not whole kernel steps (8: int4 steps are 8 k,
    int8 steps 4) and K of a few groups."""
    rng = np.random.default_rng(group + m)
    k, n = group * 3, 70
    qa = xo.quantize(rand(rng, m, k), symmetric=m != 3)
    qb = xo.quantize(
        rand(rng, k, n), precision, axis=1, group_size=group, symmetric=b_sym
    )
    want, got = both(qa, qb)
    np.testing.assert_array_equal(got, want)


def test_a_k_that_is_not_whole_groups_is_refused():
    with pytest.raises(ValueError, match="group_size=64 must be positive and divide"):
        xo.quantize(np.ones((96, 8), np.float32), "int4", axis=1, group_size=64)


@pytest.mark.parametrize("precision", ["int8", "int4", "fp32", "bf16"])
def test_batched_and_broadcast_batches(precision):
    rng = np.random.default_rng(11)
    cases = [
        ((3, 2, 40), (3, 40, 70)),
        ((3, 2, 40), (40, 70)),
        ((1, 2, 40), (4, 40, 70)),
    ]
    for sa, sb in cases:
        a, b = rand(rng, *sa), rand(rng, *sb)
        want, got = both(a, b, precision=precision)
        if precision.startswith("int"):
            np.testing.assert_array_equal(got, want)
        else:
            assert_close(
                twin.matmul_float(a, b, precision), got, SQNR_VS_TWIN[precision]
            )


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("m,k,n", SHAPES + [(40, 600, 300), (3, 9000, 64)])
def test_float_results_within_bounds(precision, m, k, n):
    rng = np.random.default_rng(m + k + n)
    a, b = rand(rng, m, k), rand(rng, k, n)
    got = xo.matmul(a, b, device="simd", precision=precision)
    assert got.dtype == np.float32
    assert_close(twin.matmul_float(a, b, precision), got, SQNR_VS_TWIN[precision])


def test_large_m_is_correct():
    """Row blocks past the register tiles and the 64-row blocks; one panel
    and many rows (the threads split the row blocks, not the panels)."""
    rng = np.random.default_rng(5)
    a, b = rand(rng, 150, 300), rand(rng, 300, 130)
    a1, b1 = rand(rng, 400, 100), rand(rng, 100, 40)
    for precision in ("int8", "int4"):
        for x, y in ((a, b), (a1, b1)):
            want, got = both(x, y, precision=precision)
            np.testing.assert_array_equal(got, want)
    got = xo.matmul(a, b, device="simd", precision="fp32")
    assert_close(twin.matmul_float(a, b, "fp32"), got, SQNR_VS_TWIN["fp32"])


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(8)
    qa = xo.quantize(rand(rng, 4, 512))
    qb = xo.quantize(rand(rng, 512, 700), "int4", axis=1, group_size=128)
    a, b = rand(rng, 3, 512), rand(rng, 512, 700)
    was = xo.get_num_threads()
    try:
        out = []
        for nt in (1, 2):
            xo.set_num_threads(nt)
            out.append(
                (xo.matmul(qa, qb, device="simd"), xo.matmul(a, b, device="simd"))
            )
    finally:
        xo.set_num_threads(was)
    for x, y in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_cached_weights_follow_the_qtensor(precision):
    """Several QTensors of one shape through one plan, out of order, and a
    QTensor replaced by a new one: each call sees its own weights, never
    another's repacked form."""
    rng = np.random.default_rng(3)
    qa = xo.quantize(rand(rng, 2, 96))
    qbs = [xo.quantize(rand(rng, 96, 80), precision, axis=1) for _ in range(3)]
    for i in (0, 1, 0, 2, 2, 1):
        want, got = both(qa, qbs[i])
        np.testing.assert_array_equal(got, want)
    qbs[0] = xo.quantize(-qbs[0].dequantize(), precision, axis=1)
    want, got = both(qa, qbs[0])
    np.testing.assert_array_equal(got, want)


def test_float_weights_are_never_cached():
    rng = np.random.default_rng(4)
    a, b = rand(rng, 2, 64), rand(rng, 64, 70)
    for precision in ("fp32", "bf16", "int8"):
        y1 = xo.matmul(a, b, device="simd", precision=precision)
        y2 = xo.matmul(a, -b, device="simd", precision=precision)
        np.testing.assert_array_equal(y2, -y1)


def test_impl_names_the_kernel_and_level():
    a = np.ones((8, 64), np.float32)
    xo.matmul(a, a.T.copy(), device="simd", precision="int8")
    impl = xo.last_info()["impl"]
    assert impl.startswith("simd:matmul_int8 (") and "64 tiles" in impl
    xo.matmul(a[:1], a.T.copy(), device="simd", precision="int8")  # decode
    assert "whole panels streamed" in xo.last_info()["impl"]


_LEVEL_SCRIPT = """
import json, numpy as np, xpuops as xo
rng = np.random.default_rng(1)
out = {}
d = next(d for d in xo.devices() if d.name == "simd")
out["full_name"] = d.full_name
out["precisions"] = d.precisions
act = rng.standard_normal((8, 192)) + 0.5
for prec, kw in [("int8", {}), ("int4", {"group_size": 32})]:
    qb = xo.quantize(rng.standard_normal((192, 70)), prec, axis=1, **kw)
    qbz = xo.quantize(rng.standard_normal((192, 70)) + 1, prec, axis=1,
                      symmetric=False, **kw)
    ok = True
    for b in (qb, qbz):
        # 1 and 2 rows: whole panels (decode) at every level; 5, 8: tiles
        # (int8: whole and partial tiles of 2, 4 or 6 rows)
        for rows in (1, 2, 3, 5, 8):
            for sym in (True, False):
                a = xo.quantize(act[:rows], symmetric=sym)
                y = xo.matmul(a, b, device="simd")
                impl = xo.last_info()["impl"]
                ok &= bool(np.array_equal(y, xo.matmul(a, b, device="ref")))
    out[prec] = [ok, impl]
b = rng.standard_normal((150, 130)).astype(np.float32)
for prec in ("fp32", "bf16"):
    dbs = []
    for m in (2, 6):  # rows streamed (m <= 4), register tiles
        a = rng.standard_normal((m, 150)).astype(np.float32)
        y = xo.matmul(a, b, device="simd", precision=prec).astype(np.float64)
        impl = xo.last_info()["impl"]
        t = xo.matmul(a, b, device="ref", precision=prec).astype(np.float64)
        dbs.append(10 * np.log10(np.sum(t ** 2) / max(np.sum((y - t) ** 2), 1e-300)))
    out[prec] = [min(dbs), impl]
print(json.dumps(out))
"""


@pytest.mark.parametrize("level", list(LEVELS))
def test_every_isa_level_this_cpu_has(level):
    """XPUOPS_MAX_ISA caps the dispatch: every level this CPU has runs its
    own kernels (named in the impl) with results bit-identical to ref."""
    missing = LEVELS[level] - cpu_info().flags
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(sorted(missing))} for {level}")
    out = subproc.python(_LEVEL_SCRIPT, XPUOPS_MAX_ISA=level)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert f"capped by XPUOPS_MAX_ISA={level}" in r["full_name"]
    want_int, want_bf16, want_fp32 = KERNELS[level]
    for prec in ("int8", "int4"):
        ok, impl = r[prec]
        assert ok, f"{prec} differs from ref under {level}: {impl}"
        if want_int:
            assert want_int in impl, impl
    assert r["fp32"][0] > SQNR_VS_TWIN["fp32"] and want_fp32 in r["fp32"][1]
    assert r["bf16"][0] > SQNR_VS_TWIN["bf16"]
    if want_bf16:
        assert want_bf16 in r["bf16"][1], r["bf16"][1]
    native_int = "vpdpbusd," in r["int8"][1]
    assert r["precisions"]["int8"] == ("native" if native_int else "emulated")
    assert r["precisions"]["bf16"] == (
        "native" if "vdpbf16ps" in r["bf16"][1] else "emulated"
    )


def test_a_bad_isa_cap_makes_simd_unavailable_with_the_reason():
    code = (
        "import xpuops as xo\n"
        "d = next(d for d in xo.devices() if d.name == 'simd')\n"
        "print(d.available, d.reason)\n"
    )
    out = subproc.python(code, XPUOPS_MAX_ISA="AVX9000")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("False ")
    assert "XPUOPS_MAX_ISA=AVX9000 is not a level" in out.stdout
    assert "AVX512_CORE_VNNI" in out.stdout


def test_no_weight_cache_still_computes_right():
    """XPUOPS_SIMD_WEIGHT_CACHE_MB=0: nothing is kept, every call repacks."""
    code = (
        "import numpy as np, xpuops as xo\n"
        "rng = np.random.default_rng(2)\n"
        "qa = xo.quantize(rng.standard_normal((2, 64)))\n"
        "qb = xo.quantize(rng.standard_normal((64, 70)), 'int8', axis=1)\n"
        "for _ in range(3):\n"
        "    y = xo.matmul(qa, qb, device='simd')\n"
        "    assert np.array_equal(y, xo.matmul(qa, qb, device='ref'))\n"
        "print('ok')\n"
    )
    out = subproc.python(code, XPUOPS_SIMD_WEIGHT_CACHE_MB="0")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

"""The OpenCL GEMM tuner (csrc/backends/opencl/tune.c, xpuops.api.tuning)
and the integer dot-product path of the direct kernel.

conftest.py turns the automatic search off and points the cache at a
temporary directory; tests that tune turn it on with a budget of a few
seconds and a cache directory of their own. The cache file is read once per
process, so what a later process finds is checked in a subprocess."""

import re

import numpy as np
import pytest
import subproc
import xpuops as xo
from xpuops import _core
from xpuops.api import tuning
from xpuops.measuring import measure as measure_mod
from xpuops.tools import cli

# opencl is required in CI (XPUOPS_REQUIRE): these fail, not skip, without it
DEV = next(
    (d.name for d in xo.devices() if d.backend == "opencl" and d.available), "opencl:0"
)
ODD = [(1, 7, 33), (7, 1000, 1), (33, 33, 1000), (45, 77, 29), (1, 1, 1)]


def _operands(m, k, n):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    return a, b


@pytest.fixture
def autotune(monkeypatch, tmp_path):
    """A search on the first plan of each class, 1.5 s each, cached in
    tmp_path (a new cache directory: nothing tuned before is used); the
    plans before and after are dropped."""
    monkeypatch.setenv("XPUOPS_OPENCL_AUTOTUNE", "1")
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE_BUDGET", "1.5")
    monkeypatch.setenv("XPUOPS_CACHE_DIR", str(tmp_path))
    _core.cache_clear()
    yield tmp_path
    _core.cache_clear()


def _cache_text(path) -> str:
    files = list(path.glob("opencl-tuning-*.txt"))
    assert len(files) == 1, files
    return files[0].read_text()


def test_tuned_parameters_give_the_default_results_on_odd_shapes(autotune, monkeypatch):
    tuned = {}
    for m, k, n in ODD:
        a, b = _operands(m, k, n)
        for prec in ("fp32", "int8", "int4"):
            tuned[m, k, n, prec] = xo.matmul(a, b, device=DEV, precision=prec)
            assert " from the tuned now (" in xo.last_info()["impl"]
    text = _cache_text(autotune)
    assert text.startswith("xpuops-opencl-tuning 1\ndevice ")
    assert "entry float-large " in text and "entry int-skinny " in text
    monkeypatch.setenv("XPUOPS_OPENCL_AUTOTUNE", "0")
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", "TS=16,WPT=4")  # the tiled default
    _core.cache_clear()
    for (m, k, n, prec), got in tuned.items():
        a, b = _operands(m, k, n)
        want = xo.matmul(a, b, device=DEV, precision=prec)
        assert "xo_gemm TS=16 WPT=4" in xo.last_info()["impl"]
        # both kernels sum k in increasing order, one rounding per step
        np.testing.assert_array_equal(got, want, err_msg=f"{m}x{k}x{n} {prec}")


def test_a_later_process_uses_the_cache(autotune):
    a, b = _operands(40, 50, 60)
    want = xo.matmul(a, b, device=DEV)
    assert "tuned now" in xo.last_info()["impl"]
    code = (
        "import numpy as np, xpuops as xo\n"
        "rng = np.random.default_rng(40 * 50 + 60)\n"
        "a = rng.standard_normal((40, 50)).astype(np.float32)\n"
        "b = rng.standard_normal((50, 60)).astype(np.float32)\n"
        f"np.save('{autotune}/got.npy', xo.matmul(a, b, device='{DEV}'))\n"
        "print(xo.last_info()['impl'])\n"
    )
    r = subproc.python(code, XPUOPS_OPENCL_AUTOTUNE="0")
    assert r.returncode == 0, r.stderr
    assert "from the tuned cache (float-large, found 20" in r.stdout
    np.testing.assert_array_equal(np.load(autotune / "got.npy"), want)


@pytest.mark.parametrize(
    "damage,why",
    [
        (lambda t: "garbage\n" + t, "not an xpuops tuning cache"),
        (
            # the entry's first parameter (MW= or TS=, whichever kernel the
            # search chose) made unreadable
            lambda t: re.sub(r"(entry float-large \w+=)", r"\1x", t, count=1),
            "corrupt",
        ),
        (lambda t: t.replace(" gops=", " gops"), "corrupt"),
        (lambda t: t.replace("\nkernels ", "\nkernels 1"), "other kernels (stale)"),
        (lambda t: t.replace("\ndevice ", "\ndevice old-"), "another device"),
        (lambda t: t[: len(t) // 3], ""),  # cut short: corrupt or stale
    ],
)
def test_a_corrupt_or_stale_cache_is_ignored_with_a_warning(autotune, damage, why):
    a, b = _operands(40, 50, 60)
    xo.matmul(a, b, device=DEV)
    path = next(autotune.glob("opencl-tuning-*.txt"))
    text = path.read_text()
    damaged = damage(text)
    assert damaged != text, "the damage found nothing to damage"
    path.write_text(damaged)
    code = (
        "import numpy as np, xpuops as xo\n"
        "a = np.ones((40, 50), np.float32)\n"
        f"out = xo.matmul(a, a.T, device='{DEV}')\n"
        "assert (out == 50).all()\n"
        "print(xo.last_info()['impl'])\n"
    )
    r = subproc.python(code, XPUOPS_OPENCL_AUTOTUNE="0")
    assert r.returncode == 0, r.stderr
    assert "warning: ignoring the OpenCL tuning cache" in r.stderr
    assert why in r.stderr
    assert "from the tuning table" in r.stdout  # not the damaged entry


def test_a_set_that_fails_to_build_is_skipped(autotune, monkeypatch):
    # every direct set of vector width 8 or 16 fails to compile (the seeds)
    monkeypatch.setenv("XPUOPS_OPENCL_BUILD_OPTIONS", "-DXO_TEST_FAIL_VW=16")
    a, b = _operands(45, 77, 29)
    got = xo.matmul(a, b, device=DEV)
    impl = xo.last_info()["impl"]
    n_failed = int(impl.split(" did not build")[0].rsplit(" ", 1)[1])
    assert n_failed >= 1, impl
    assert "VW=16" not in impl.split(" from the ")[0]
    monkeypatch.delenv("XPUOPS_OPENCL_BUILD_OPTIONS")
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


def test_tuning_runs_in_the_plan_never_in_the_measured_calls(autotune, monkeypatch):
    infos = []

    def recording_last_info():
        info = xo.last_info()
        infos.append(info)
        return info

    monkeypatch.setattr(measure_mod, "last_info", recording_last_info)
    a, b = _operands(64, 64, 64)
    m = xo.measure(xo.matmul, a, b, device=DEV, repeats=5, accuracy=False)
    first, timed = infos[0], infos[1:]
    assert "tuned now" in first["impl"] and first["plan_created"]
    text = first["impl"].split(" in ")[-1].split(" s)")[0]
    search_s = float(text)
    # the search is part of making the plan: plan_s holds it, up to the
    # rounding of the impl's figure (half its last digit)
    half = 0.5 * 10 ** -(len(text.partition(".")[2]))
    assert search_s > 0 and m.plan_s >= search_s - half, (m.plan_s, text)
    assert len(timed) == 5
    for info in timed:  # no plan made, so no search, in a timed call
        assert not info["plan_created"] and info["plan_s"] == 0, info


# ---- the integer dot-product path (software dot on devices without it) ----


@pytest.fixture
def soft_dot(monkeypatch):
    monkeypatch.setenv("XPUOPS_OPENCL_DOT4", "soft")
    yield
    _core.cache_clear()


@pytest.mark.parametrize(
    "tune", ["MW=4,VW=8,LX=4,LY=2", "MW=3,VW=1,LX=1,LY=1", "MW=1,VW=16,LX=2,LY=2"]
)
@pytest.mark.parametrize("m,k,n", [*ODD, (64, 64, 64), (9, 130, 17)])
def test_dot_product_path_is_bit_exact(soft_dot, monkeypatch, tune, m, k, n):
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", tune)
    _core.cache_clear()
    a, b = _operands(m, k, n)
    cases = [
        (xo.quantize(a), xo.quantize(b, axis=1), {}),
        (xo.quantize(a, symmetric=False), xo.quantize(b, axis=1), {}),
        (xo.quantize(a, symmetric=False), xo.quantize(b), {"out_dtype": np.int32}),
        (xo.quantize(a), xo.quantize(b, "int4", axis=1), {}),
    ]
    if k % 2 == 0:  # group-wise int4: groups of 2 along k
        cases.append((xo.quantize(a), xo.quantize(b, "int4", axis=1, group_size=2), {}))
    for qa, qb, kw in cases:
        got = xo.matmul(qa, qb, device=DEV, **kw)
        assert "DOT4 (software dot)" in xo.last_info()["impl"]
        want = xo.matmul(qa, qb, device="ref", **kw)
        np.testing.assert_array_equal(got, want)


def test_dot_product_path_in_conv_is_bit_exact(soft_dot, monkeypatch, rng):
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", "MW=2,VW=4,LX=2,LY=2")
    _core.cache_clear()
    x = rng.standard_normal((2, 5, 9, 7)).astype(np.float32)
    w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
    qx, qw = xo.quantize(x), xo.quantize(w, axis=0)
    got = xo.conv2d(qx, qw, device=DEV, padding=1)
    assert "DOT4 (software dot)" in xo.last_info()["impl"]
    np.testing.assert_array_equal(got, xo.conv2d(qx, qw, device="ref", padding=1))


ATTN_DOT_CASES = {
    # (b, h, hkv, lq, lk, d, dv), keywords: head sizes and key ranges that
    # are and are not multiples of 4 (the dot's width), GQA, every rule
    "plain": ((2, 4, 2, 7, 11, 16, 16), {}),
    "odd-heads-causal-softcap": (
        (1, 2, 1, 5, 13, 7, 5),
        {"causal": True, "softcap": 2.0},
    ),
    "window-top-left": (
        (2, 2, 2, 9, 14, 12, 3),
        {"causal": "top-left", "window": (2, 1)},
    ),
    "kv_lengths-mask": ((3, 2, 2, 9, 6, 33, 9), {"kv_lengths": [0, 6, 3], "mask": 0.7}),
    "kv-cache": ((2, 4, 2, 3, 19, 32, 7), {"quantized_kv": True}),
}


@pytest.mark.parametrize("case", list(ATTN_DOT_CASES))
def test_dot_product_path_in_int8_attention_is_bit_exact(soft_dot, case):
    """int8 attention (scheme v2) with Q.K (s8 x s8) and P.V (u8 x s8)
    through the dot path, compiled with the software dot here: the same
    bits as ref."""
    _core.cache_clear()
    (b, h, hkv, lq, lk, d, dv), kw = ATTN_DOT_CASES[case]
    kw = dict(kw)
    rng = np.random.default_rng(lq * lk + d)
    q = rng.standard_normal((b, h, lq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, lk, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, lk, dv)).astype(np.float32)
    if kw.pop("quantized_kv", False):  # an int8 KV cache: K not centred
        k, v = xo.quantize(k, axis=2), xo.quantize(v, axis=3)
    if "mask" in kw:
        kw["mask"] = rng.random((b, 1, lq, lk)) < kw["mask"]
    if "kv_lengths" in kw:
        kw["kv_lengths"] = np.array(kw["kv_lengths"])
    got = xo.attention(q, k, v, device=DEV, precision="int8", **kw)
    assert "Q.K and P.V as DOT4 (software dot)" in xo.last_info()["impl"]
    want = xo.attention(q, k, v, device="ref", precision="int8", **kw)
    np.testing.assert_array_equal(got, want)


def test_dot_product_path_off_by_env(monkeypatch):
    monkeypatch.setenv("XPUOPS_OPENCL_DOT4", "0")
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", "MW=4,VW=8,LX=4,LY=2")
    _core.cache_clear()
    a, b = _operands(33, 40, 20)
    xo.matmul(a, b, device=DEV, precision="int8")
    assert "DOT4" not in xo.last_info()["impl"]
    q = np.ones((1, 1, 2, 8), np.float32)
    xo.attention(q, q, q, device=DEV, precision="int8")
    assert "DOT4" not in xo.last_info()["impl"]
    _core.cache_clear()


def test_fp16_label_matches_the_canary():
    d = next(d for d in xo.devices() if d.name == DEV)
    verdict = xo.canary(DEV, "fp16")
    # native (cl_khr_fp16: products in half) or emulated (products in f32):
    # operands are fp16 and sums f32 either way, as the canary confirms
    assert d.precisions["fp16"] in ("native", "emulated")
    assert verdict.ok and verdict.computes == "fp16", verdict


# ---- the command and the Python side ---------------------------------------


def test_xpuops_tune_writes_the_cache(autotune, capsys):
    assert cli.main(["tune", "--device", DEV, "--budget", "4"]) == 0
    out = capsys.readouterr().out
    for cls in tuning.CLASSES:
        assert f"{DEV} {cls:6s} fp32: opencl:matmul_fp32 (" in out
    assert out.count("tuned now (") == 4
    assert tuning.cache_files() and str(tuning.cache_files()[0]) in out
    text = _cache_text(autotune)
    for key in ("float-large", "float-skinny", "int-large", "int-skinny"):
        assert f"entry {key} " in text


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["tune", "--device", "ref"], "must be an available OpenCL device"),
        (["tune", "--budget", "0"], "budget must be a positive"),
    ],
)
def test_xpuops_tune_refuses_bad_arguments(argv, msg, capsys):
    assert cli.main(argv) == 2
    assert msg in capsys.readouterr().out


def test_an_override_wins_over_the_cache(autotune, monkeypatch):
    a, b = _operands(20, 30, 40)
    xo.matmul(a, b, device=DEV)
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", "MW=2,VW=4,LX=2,LY=2")
    _core.cache_clear()
    xo.matmul(a, b, device=DEV)
    assert "MW=2 VW=4 LX=2 LY=2 from the XPUOPS_OPENCL_TUNE" in xo.last_info()["impl"]

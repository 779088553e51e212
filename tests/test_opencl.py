"""The OpenCL backend beyond the harness: shapes that are not multiples of
any tile, the tuning override, build errors with their log, event timing."""

import numpy as np
import pytest
import xpuops as xo
from xpuops import _core

# opencl is required in CI (XPUOPS_REQUIRE): these fail, not skip, without it
DEV = next(
    (d.name for d in xo.devices() if d.backend == "opencl" and d.available), "opencl:0"
)


@pytest.mark.parametrize(
    "m,k,n", [(1, 7, 33), (7, 1000, 1), (33, 33, 1000), (1000, 7, 7), (1, 1, 1)]
)
@pytest.mark.parametrize("precision", ["fp32", "int8", "int4"])
def test_odd_shapes_match_ref(m, k, n, precision):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    got = xo.matmul(a, b, device=DEV, precision=precision)
    want = xo.matmul(a, b, device="ref", precision=precision)
    if precision == "fp32":  # same order of sums, no FMA contraction
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


def test_reports_its_kind_and_kernel_time():
    d = next(d for d in xo.devices() if d.name == DEV)
    assert d.kind in ("cpu", "gpu")
    if "Portable Computing Language" in d.full_name:
        assert d.kind == "cpu"  # PoCL runs on the CPU: never called a GPU
    a = np.ones((64, 64), np.float32)
    xo.matmul(a, a, device=DEV)
    info = xo.last_info()
    assert info["impl"].startswith("opencl:matmul_fp32 (xo_gemm TS=")
    assert 0 < info["kernel_s"]
    assert info["timing"] == "events"  # the device's own events, not wall time


def test_tuning_override_changes_the_kernel_not_the_result(monkeypatch):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((45, 77)).astype(np.float32)
    b = rng.standard_normal((77, 29)).astype(np.float32)
    want = xo.matmul(a, b, device=DEV, precision="int8")
    monkeypatch.setenv("XPUOPS_OPENCL_TUNE", "TS=8,WPT=2")
    _core.cache_clear()  # tuning is chosen when a plan is made
    got = xo.matmul(a, b, device=DEV, precision="int8")
    assert "TS=8 WPT=2 from the XPUOPS_OPENCL_TUNE" in xo.last_info()["impl"]
    np.testing.assert_array_equal(got, want)
    monkeypatch.delenv("XPUOPS_OPENCL_TUNE")
    _core.cache_clear()


def test_build_error_surfaces_with_the_log(monkeypatch):
    monkeypatch.setenv("XPUOPS_OPENCL_BUILD_OPTIONS", "-DXO_FORCE_BUILD_ERROR")
    _core.cache_clear()
    a = np.ones((3, 5), np.float32)
    with pytest.raises(RuntimeError, match="(?s)Build log:.*forced by XO_FORCE"):
        xo.matmul(a, a.T, device=DEV)
    monkeypatch.delenv("XPUOPS_OPENCL_BUILD_OPTIONS")
    _core.cache_clear()
    assert xo.matmul(a, a.T, device=DEV)[0, 0] == 5.0  # the device still works

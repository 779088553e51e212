"""What the CPU backends report about themselves: the implementation that
ran (ISA included), native or emulated, and the limits they refuse."""

import numpy as np
import pytest
import xpuops as xo
from xpuops import _libs
from xpuops._cpu import cpu_info

# openblas and onednn are dependencies of the package: these tests fail, not
# skip, when either is missing (test_devices says which, with the reason)
AVAILABLE = {d.name for d in xo.devices() if d.available}


def ones(*shape):
    return np.ones(shape, np.float32)


def test_openblas_reports_its_core():
    d = next(d for d in xo.devices() if d.name == "openblas")
    assert "core" in d.full_name
    xo.matmul(ones(8, 8), ones(8, 8), device="openblas")
    impl = xo.last_info()["impl"]
    assert impl.startswith("openblas:matmul_fp32 (cblas_sgemm")
    # a CPU the library does not know falls back to slow generic kernels
    if "avx512f" in cpu_info().flags:
        assert "Prescott" not in impl and "Haswell" not in d.full_name.split("core")[-1]


def test_onednn_reports_isa_and_emulation():
    d = next(d for d in xo.devices() if d.name == "onednn")
    assert d.full_name.startswith("oneDNN 3.")
    assert d.precisions["fp8"] == "emulated" and d.precisions["int4"] == "emulated"
    assert "fp64" not in d.precisions
    a = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    xo.matmul(a, a.T, device="onednn", precision="int8")
    impl = xo.last_info()["impl"]
    assert impl.startswith("onednn:matmul_int8 (")
    if "amx_int8" in cpu_info().flags:
        assert "amx" in impl  # the AMX tiles, not a fallback ISA
    xo.matmul(a, a.T, device="onednn", precision="int4")
    assert "int4 unpacked to s8" in xo.last_info()["impl"]
    assert xo.last_info()["native"] is False
    xo.matmul(a, a.T, device="onednn", precision="fp8")
    assert "fp8 widened to bf16" in xo.last_info()["impl"]


def test_onednn_refuses_asymmetric_weights_naming_ref():
    qb = xo.quantize(ones(4, 3), axis=1, symmetric=False)
    with pytest.raises(xo.UnsupportedError, match="use ref"):
        xo.matmul(ones(2, 4), qb, device="onednn", precision="int8")
    # the alias finds a device that can
    y = xo.matmul(ones(2, 4), qb, device="ref", precision="int8")
    np.testing.assert_allclose(y, 4.0, rtol=1e-2)


def test_repeated_onednn_calls_create_no_plan():
    from xpuops import _core

    a = np.random.default_rng(1).standard_normal((24, 40)).astype(np.float32)
    for prec in ("fp32", "bf16", "int8"):
        xo.matmul(a, a.T, device="onednn", precision=prec)
        before = _core.cache_stats()["plans_created"]
        for _ in range(4):
            xo.matmul(a, a.T, device="onednn", precision=prec)
            assert not xo.last_info()["plan_created"]
        assert _core.cache_stats()["plans_created"] == before


def test_thread_pools_do_not_spin_into_each_other():
    import os

    for name in _libs.SPIN_LIMITS:
        assert name in os.environ  # set before either library loaded


@pytest.mark.parametrize("n", [1, 2])
def test_results_do_not_depend_on_thread_count(n):
    a = np.random.default_rng(2).standard_normal((64, 96)).astype(np.float32)
    old = xo.get_num_threads()
    try:
        xo.set_num_threads(n)
        got = {
            d: xo.matmul(a, a.T, device=d, precision="int8")
            for d in AVAILABLE
            if d in ("ref", "onednn")
        }
    finally:
        xo.set_num_threads(old)
    ref = xo.matmul(a, a.T, device="ref", precision="int8")
    for y in got.values():
        np.testing.assert_array_equal(y, ref)

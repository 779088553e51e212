"""What the CPU backends report about themselves: the implementation that
ran (ISA included), native or emulated, and the limits they refuse."""

import os

import numpy as np
import pytest
import subproc
import xpuops as xo
from conftest import REQUIRED
from xpuops.api import libs as _libs
from xpuops.api.cpu import cpu_info

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
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced:
        # a host that forces a core (some do, for buggy kernels) is reported
        # by the device, not failed: the figures are that core's
        assert f"(forced by OPENBLAS_CORETYPE={forced})" in d.full_name
    elif "avx512f" in cpu_info().flags:
        # a CPU the library does not know falls back to slow generic kernels
        assert "Prescott" not in impl and "Haswell" not in d.full_name.split("core")[-1]


def test_openblas_names_a_forced_core():
    """Whatever this host sets, forcing a core shows in the device's name."""
    code = (
        "import xpuops as xo; print(next(d.full_name for d in xo.devices() "
        "if d.name == 'openblas'))"
    )
    env_extra = {"OPENBLAS_CORETYPE": "Haswell"}
    out = subproc.python(code, **env_extra)
    assert out.returncode == 0, out.stderr
    assert "core Haswell (forced by OPENBLAS_CORETYPE=Haswell)" in out.stdout


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


def test_onednn_asymmetric_weights_through_the_core_identity():
    """oneDNN 3.2 takes no weight zero points: the primitive gives s32 and
    the core adds their term (issue 14); the result is ref's, bit for bit."""
    qb = xo.quantize(ones(4, 3), axis=1, symmetric=False)
    y = xo.matmul(ones(2, 4), qb, device="onednn", precision="int8")
    np.testing.assert_array_equal(
        y, xo.matmul(ones(2, 4), qb, device="ref", precision="int8")
    )
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


def test_qtensor_is_immutable_and_owns_its_data():
    data = np.array([[1, -2], [3, 4]], np.int8)
    q = xo.QTensor(data, 0.5)
    data[0, 0] = 7  # the caller's array, not the QTensor's
    assert q.data[0, 0] == 1
    with pytest.raises(ValueError, match="read-only"):
        q.data[0, 0] = 2
    with pytest.raises(ValueError, match="read-only"):
        xo.quantize(ones(3, 3)).scale[...] = 2


@pytest.mark.parametrize("precision", ["int4", "int8"])
def test_cached_weights_follow_the_operand(precision):
    """Several QTensors through one plan: each call sees its own weights,
    never another's cached form."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((8, 64)).astype(np.float32)
    qa = xo.quantize(a)
    qbs = [
        xo.quantize(rng.standard_normal((64, 16)), precision, axis=1) for _ in range(3)
    ]
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    qx = xo.quantize(x)
    qws = [
        xo.quantize(rng.standard_normal((4, 8, 3, 3)), precision, axis=0)
        for _ in range(3)
    ]
    for i in (0, 1, 0, 2, 2, 1):  # hits and replacements, out of order
        want = xo.matmul(qa, qbs[i], device="ref")
        np.testing.assert_array_equal(xo.matmul(qa, qbs[i], device="onednn"), want)
        want = xo.conv2d(qx, qws[i], padding=1, device="ref")
        got = xo.conv2d(qx, qws[i], padding=1, device="onednn")
        np.testing.assert_array_equal(got, want)


def test_cached_fp8_weights_follow_the_data():
    # float operands carry no token: nothing derived from them is kept
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 32)).astype(np.float32)
    b = rng.standard_normal((32, 8)).astype(np.float32)
    y1 = xo.matmul(a, b, device="onednn", precision="fp8")
    np.negative(b, out=b)  # same array, new values (negation is exact)
    y2 = xo.matmul(a, b, device="onednn", precision="fp8")
    np.testing.assert_array_equal(y2, -y1)


@pytest.mark.parametrize("cap,above", [("AVX2", "avx512"), ("AVX512_CORE", "vnni")])
def test_onednn_follows_an_isa_cap(cap, above):
    """ONEDNN_MAX_CPU_ISA caps oneDNN's kernels (how CI covers ISAs its CPU
    lacks): no kernel above the cap runs, and int8, which needs VNNI for
    exact accumulators, is refused naming the devices that can."""
    code = (
        "import numpy as np, xpuops as xo\n"
        "a = np.ones((64, 64), np.float32)\n"
        "xo.matmul(a, a, device='onednn')\n"
        "print(xo.last_info()['impl'])\n"
        "d = next(d for d in xo.devices() if d.name == 'onednn')\n"
        "print(d.full_name)\n"
        "try:\n"
        "    xo.matmul(a, a, device='onednn', precision='int8')\n"
        "    print('int8 ran')\n"
        "except xo.UnsupportedError as e:\n"
        "    print('refused:', e)\n"
    )
    env_extra = {"ONEDNN_MAX_CPU_ISA": cap}
    out = subproc.python(code, **env_extra)
    assert out.returncode == 0, out.stderr
    impl, full_name, int8 = out.stdout.strip().splitlines()
    assert impl.startswith("onednn:matmul_fp32 (") and above not in impl.lower()
    assert "no int8 (without VNNI" in full_name
    assert int8.startswith("refused:") and "ref" in int8


def test_own_onednn_declarations_match_its_header():
    """The build declares the oneDNN API subset itself (dnnl_api.h); the
    declarations must agree with oneDNN's own header, prototypes and
    constant values both."""
    import importlib.metadata
    import shutil
    import subprocess
    from pathlib import Path

    try:
        dist = importlib.metadata.distribution("onednn-devel-cpu-gomp")
    except importlib.metadata.PackageNotFoundError:
        if "onednn" in REQUIRED:
            pytest.fail(
                "onednn is required but onednn-devel-cpu-gomp (its "
                "headers, a [test] extra on x86-64 Linux) is not installed"
            )
        pytest.skip(
            "oneDNN's headers (onednn-devel-cpu-gomp) exist only for x86-64 Linux"
        )
    header = next(
        Path(f.locate()).resolve()
        for f in dist.files or []
        if f.name == "dnnl.h" and f.parent.name == "dnnl"
    )
    include = header.parent.parent.parent
    root = Path(__file__).resolve().parent.parent / "csrc" / "backends" / "onednn"
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler"
    r = subprocess.run(
        [
            cc,
            "-std=gnu11",
            "-fsyntax-only",
            "-Werror",
            "-Wall",
            f"-I{include}",
            f"-I{root}",
            str(root / "dnnl_signature_check.c"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr

"""The vendor-runtime path: OpenVINO devices, graphs compiled once per set
of weights, the signature check against the wheel's header, and what
happens when OpenVINO is missing."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import subproc
import xpuops as xo

ROOT = Path(__file__).parents[1]


def test_devices_listed_with_reasons():
    ov = {d.name: d for d in xo.devices() if d.backend == "openvino"}
    cpu = ov["openvino:CPU"]
    assert (
        cpu.available and cpu.kind == "cpu" and cpu.full_name.startswith("OpenVINO CPU")
    )
    assert not cpu.exact_integer  # the plugin chooses its int8 arithmetic
    npu = ov["openvino:NPU"]
    assert npu.kind == "npu"
    if npu.available:  # a machine with an NPU: it runs, and says what it is
        assert npu.full_name.startswith("OpenVINO NPU") and npu.precisions
        return
    # no NPU here: said, not hidden, and calling it says why
    assert "NPU" in npu.reason and "driver" in npu.reason
    with pytest.raises(xo.DeviceUnavailableError, match="driver"):
        xo.matmul(
            np.ones((2, 2), np.float32),
            np.ones((2, 2), np.float32),
            device="openvino:NPU",
        )


def test_compiled_once_per_weights_and_timed_apart():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 128)).astype(np.float32)
    qa = xo.quantize(a)
    qw1 = xo.quantize(rng.standard_normal((128, 96)), axis=1)
    qw2 = xo.quantize(rng.standard_normal((128, 96)), axis=1)
    xo.matmul(qa, qw1, device="openvino:CPU")
    first = xo.last_info()
    assert first["plan_s"] > 0  # compiling the model, reported apart
    y1 = xo.matmul(qa, qw1, device="openvino:CPU")
    assert xo.last_info()["plan_s"] == 0 and xo.last_info()["kernel_s"] > 0
    y2 = xo.matmul(qa, qw2, device="openvino:CPU")  # new weights: new graph
    assert xo.last_info()["plan_s"] > 0
    for q, y in ((qw1, y1), (qw2, y2)):
        ref = xo.matmul(qa, q, device="ref")
        assert xo.reference.sqnr_db(ref, y) > 40  # its int8 layers are its own


def test_failed_compile_mid_run_leaves_the_device_usable(monkeypatch):
    from xpuops import _core

    a = np.arange(15, dtype=np.float32).reshape(3, 5)
    want = xo.matmul(a, a.T, device="ref", precision="fp32")
    np.testing.assert_allclose(xo.matmul(a, a.T, device="openvino:CPU"), want)
    # a property OpenVINO rejects: compiling the model fails inside OpenVINO
    monkeypatch.setenv("XPUOPS_OPENVINO_CONFIG", "XPUOPS_NO_SUCH_PROPERTY=1")
    _core.cache_clear()
    with pytest.raises(RuntimeError, match="compiling the model"):
        xo.matmul(a, a.T, device="openvino:CPU")
    monkeypatch.delenv("XPUOPS_OPENVINO_CONFIG")
    got = xo.matmul(a, a.T, device="openvino:CPU")  # same shapes, same plan key
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("prec", ["fp32", "fp16", "int8"])
def test_empty_reductions_match_ref(prec):
    # found by `make fuzz`: K = 0 constants rejected, a C = 0 convolution's
    # bias dropped, and SIGFPE in the CPU plugin's SDPA for Lk = 0
    dev = dict(device="openvino:CPU", precision=prec)
    a, b = np.ones((2, 0), np.float32), np.ones((0, 3), np.float32)
    np.testing.assert_array_equal(xo.matmul(a, b, **dev), np.zeros((2, 3)))
    x = np.ones((1, 0, 2, 2), np.float32)
    bias = np.arange(4, dtype=np.float32)
    for groups in (1, 2):
        w = np.ones((4, 0, 1, 1), np.float32)
        want = xo.conv2d(x, w, bias=bias, groups=groups, device="ref")
        got = xo.conv2d(x, w, bias=bias, groups=groups, **dev)
        np.testing.assert_array_equal(got, want)
    if prec != "int8":  # int8 attention is not an OpenVINO graph
        q, k = np.ones((1, 2, 3, 4), np.float32), np.ones((1, 2, 0, 4), np.float32)
        got = xo.attention(q, k, k, **dev)
        np.testing.assert_array_equal(got, np.zeros((1, 2, 3, 4)))


def test_int8_attention_says_where_it_runs():
    q = np.ones((1, 1, 4, 8), np.float32)
    with pytest.raises(xo.UnsupportedError, match="onednn, ref or npusim"):
        xo.attention(q, q, q, device="openvino:CPU", precision="int8")


def test_own_declarations_match_the_wheels_header():
    import openvino

    include = Path(openvino.__file__).parent / "include"
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc and (include / "openvino" / "c" / "openvino.h").exists()
    r = subprocess.run(
        [
            cc,
            "-std=gnu11",
            "-fsyntax-only",
            "-Werror",
            "-Wall",
            "-Wno-unused-variable",
            f"-I{include}",
            f"-I{ROOT / 'csrc' / 'backends' / 'openvino'}",
            str(ROOT / "csrc" / "backends" / "openvino" / "ov_signature_check.c"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_missing_openvino_breaks_nothing_else():
    env_extra = {"XPUOPS_OPENVINO_LIB": "/nonexistent/libopenvino_c.so"}
    code = (
        "import numpy as np, xpuops as xo\n"
        "d = {d.name: d for d in xo.devices()}\n"
        "assert not d['openvino'].available, d['openvino']\n"
        "print(d['openvino'].reason)\n"
        "assert xo.matmul(np.ones((2, 2)), np.ones((2, 2)))[0, 0] == 2\n"
    )
    r = subproc.python(code, **env_extra)
    assert r.returncode == 0, r.stderr
    assert "cannot load OpenVINO" in r.stdout


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="compares with /proc/cpuinfo"
)
def test_cpu_features_are_read_from_the_cpu():
    # the core's CPUID/XCR0 reading agrees with the kernel's own flags
    from xpuops import _core
    from xpuops.api.cpu import cpu_info

    flags = cpu_info().flags
    assert flags, "/proc/cpuinfo lists no CPU flags"
    for name, has in _core.cpu_features().items():
        assert has == (name in flags), name


def test_fp16_is_native_only_with_f16_arithmetic(rng):
    # without AVX512-FP16 or AMX-FP16 the CPU plugin, asked for f16, rounds
    # operands to bf16 (about 54 dB on this data) and still calls it f16
    from xpuops.api.cpu import cpu_info

    dev = next(d for d in xo.devices() if d.name == "openvino:CPU")
    flags = cpu_info().flags
    if not ({"avx512_fp16", "amx_fp16"} & flags):
        assert dev.precisions["fp16"] == "emulated"
    a = rng.standard_normal((64, 512)).astype(np.float16)
    b = rng.standard_normal((512, 48)).astype(np.float16)
    y = xo.matmul(a, b, device="openvino:CPU")
    info = xo.last_info()
    exact = a.astype(np.float64) @ b.astype(np.float64)
    if dev.precisions["fp16"] == "emulated":
        assert not info["native"]
        assert "f16 operands, f32 inference precision: emulated" in info["impl"]
        # exact f16 inputs, f32 arithmetic: only f32 accumulation error
        assert xo.reference.sqnr_db(exact, y) > 110
        x = rng.standard_normal((1, 8, 6, 6)).astype(np.float16)
        w = rng.standard_normal((4, 8, 3, 3)).astype(np.float16)
        yc = xo.conv2d(x, w, device="openvino:CPU")
        assert "f32 inference precision: emulated" in xo.last_info()["impl"]
        ref = xo.conv2d(x.astype(np.float64), w.astype(np.float64), device="ref")
        assert xo.reference.sqnr_db(ref, yc) > 110
    else:
        assert info["native"] and "INFERENCE_PRECISION_HINT=f16" in info["impl"]
        assert xo.reference.sqnr_db(exact, y) > 58  # one f16 output rounding

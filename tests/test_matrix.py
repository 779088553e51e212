"""The declared matrix (tests/matrix.py): every (backend, precision) pair
XPUOPS_REQUIRE asks for is declared, a bare backend declares exactly what the
CPU table gives it, and every backend x precision a device does not declare
raises UnsupportedError naming the devices that can, for every op."""

import os
import subprocess
import sys

import matrix
import numpy as np
import pytest
import xpuops as xo

REQ = matrix.parse_require()


@pytest.mark.parametrize(
    "backend,precision", matrix.required_pairs(), ids=lambda v: str(v)
)
def test_required_pair_is_declared(backend, precision):
    devs = matrix.matrix_devices(backend)
    assert devs, f"required backend {backend} has no available device"
    missing = [d.name for d in devs if precision not in d.precisions]
    assert not missing, (
        f"XPUOPS_REQUIRE requires {backend}:{precision} but {', '.join(missing)} "
        f"does not declare it (declares {sorted(devs[0].precisions)})"
    )


@pytest.mark.parametrize("backend", [b for b, (_, exact) in REQ.items() if exact])
def test_bare_backend_declares_exactly_its_table(backend):
    want = set(matrix.expected(backend))
    for d in matrix.matrix_devices(backend):
        extra = set(d.precisions) - want
        assert not extra, (
            f"{d.name} declares {sorted(extra)}, which tests/matrix.py's table "
            "does not give it on this CPU: update the table (and say why)"
        )


def test_table_follows_cpu_flags_not_devices():
    # the same table on three CPUs: an AVX2 laptop, this Zen 4, a Sapphire
    # Rapids (AMX, AVX512-FP16)
    avx2 = frozenset({"avx2", "fma", "f16c"})
    zen4 = avx2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"}
    zen4 |= {"avx512_vnni"}
    spr = zen4 | {"avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"}
    assert set(matrix.expected("onednn", avx2)) == {"fp32"}  # int8 needs VNNI
    assert set(matrix.expected("onednn", zen4)) == {
        "fp32",
        "int8",
        "int4",
        "bf16",
        "fp8",
    }
    assert set(matrix.expected("onednn", spr)) == {
        "fp32",
        "int8",
        "int4",
        "bf16",
        "fp8",
        "fp16",
    }
    assert "fp16" in matrix.conditional("onednn", zen4)
    assert set(matrix.expected("ref", avx2)) == set(xo.PRECISIONS)


def test_require_syntax():
    assert matrix.parse_require("openblas:fp32+fp64") == {
        "openblas": (frozenset({"fp32", "fp64"}), False)
    }
    assert matrix.parse_require("ref")["ref"] == (frozenset(xo.PRECISIONS), True)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        matrix.parse_require("tpu")
    with pytest.raises(ValueError, match="unknown precision"):
        matrix.parse_require("onednn:fp32+int2")


def test_a_vanished_pair_fails_the_suite(tmp_path):
    # requiring a pair no device declares (openblas has no int8) fails both
    # the matrix test and the harness's cases for it, instead of shrinking
    env = dict(os.environ, XPUOPS_REQUIRE="ref,openblas:fp32+int8")
    here = os.path.dirname(__file__)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{here}/test_matrix.py::test_required_pair_is_declared",
            f"{here}/test_harness.py::test_matmul",
            "-k",
            "openblas",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "FAILED" in out and "openblas-int8" in out
    assert "requires openblas:int8" in out


def _call(op, device, precision):
    x = np.ones((1, 2, 4, 4), np.float32)
    if op == "matmul":
        return xo.matmul(x[0, 0], x[0, 0], device=device, precision=precision)
    if op == "conv2d":
        return xo.conv2d(
            x, np.ones((2, 2, 1, 1), np.float32), device=device, precision=precision
        )
    return xo.attention(x, x, x, device=device, precision=precision)


UNDECLARED = [
    (d.name, p, op)
    for d in xo.devices()
    if d.available
    for p in xo.PRECISIONS
    if p not in d.precisions
    for op in ("matmul", "conv2d", "attention")
]


@pytest.mark.parametrize("device,precision,op", UNDECLARED)
def test_undeclared_precision_raises_naming_who_can(device, precision, op):
    able = [d.name for d in xo.devices() if d.available and precision in d.precisions]
    with pytest.raises(xo.UnsupportedError) as e:
        _call(op, device, precision)
    msg = str(e.value)
    assert device in msg and precision in msg
    named = msg.split("devices that can: ")[1].split(", ")
    assert sorted(named) == sorted(able), msg


LACKING = [
    (d.name, op)
    for d in xo.devices()
    if d.available
    for op in matrix.OPS_ALL
    if not matrix.runs(d.backend, op)
]


@pytest.mark.parametrize("device,op", LACKING)
def test_an_op_a_backend_lacks_raises_naming_who_runs_it(device, op):
    """matrix.OPS cannot hide an op that runs: the harness skips these
    pairs, so each must really raise, naming the devices that run the op."""
    dev = next(d for d in xo.devices() if d.name == device)
    precision = next(p for p in ("fp32", "int8") if p in dev.precisions)
    with pytest.raises(xo.UnsupportedError, match=f"has no {op}") as e:
        _call(op, device, precision)
    assert "ref" in str(e.value).split(f"devices that run {op}: ")[1]

"""The ref backend's speed, beside NumPy (OpenBLAS) in the same run.

Run: ``make bench`` or ``pytest benchmarks/``. Nothing here asserts a speed:
ref is the oracle, kept "not painfully slow" (blocked loops, single thread);
the figures are for the reader and for regression baselines."""

import numpy as np
import pytest
import xpuops as xo

N = 512


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((N, N)).astype(np.float32),
        rng.standard_normal((N, N)).astype(np.float32),
    )


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8", "int4"])
def test_ref_matmul_512(benchmark, operands, precision):
    a, b = operands
    benchmark.group = f"matmul {N}^3"
    benchmark.extra_info["unit"] = "TOPS" if precision.startswith("int") else "TFLOPS"
    benchmark(xo.matmul, a, b, device="ref", precision=precision)
    benchmark.extra_info["throughput"] = str(
        xo.Throughput(2 * N**3 / benchmark.stats.stats.min, precision)
    )


def test_numpy_matmul_512_peer(benchmark, operands):
    a, b = operands
    benchmark.group = f"matmul {N}^3"
    benchmark(np.matmul, a, b)
    benchmark.extra_info["throughput"] = str(
        xo.Throughput(2 * N**3 / benchmark.stats.stats.min, "fp32")
    )

"""The device model: every backend listed, available or with its reason;
the backends CI requires are present (XPUOPS_REQUIRE)."""

import matrix
import pytest
import xpuops as xo
from conftest import REQUIRED, needs_backend

BACKENDS = {"ref", "openblas", "onednn", "opencl", "openvino", "npusim", "simd"}


def test_every_backend_is_listed():
    devs = xo.devices()
    assert {d.backend for d in devs} == BACKENDS
    for d in devs:
        assert d.kind in ("cpu", "gpu", "npu")
        if not d.available:
            assert d.reason, f"{d.name} is unavailable without a reason"
            assert d.name in repr(d) and d.reason in repr(d)


@pytest.mark.parametrize("backend", REQUIRED)
def test_required_backend_is_available(backend):
    # a backend CI installs must be present: missing is a failure, not a skip
    assert backend in BACKENDS, f"XPUOPS_REQUIRE names unknown backend {backend}"
    avail = [d for d in xo.devices() if d.backend == backend and d.available]
    reasons = [d.reason for d in xo.devices() if d.backend == backend]
    assert avail, f"required backend {backend} is unavailable: {reasons}"


def test_ref_device():
    ref = next(d for d in xo.devices() if d.name == "ref")
    assert ref.available and ref.kind == "cpu" and not ref.simulated
    assert ref.exact_integer
    assert set(ref.precisions) == set(xo.PRECISIONS)
    assert ref.precisions["fp32"] == "native" and ref.precisions["bf16"] == "emulated"


def test_cpu_alias_is_the_best_available_cpu():
    a = xo.matmul([[1.0]], [[2.0]], device="cpu")
    assert a[0, 0] == 2.0
    best = xo.api.devices.resolve("cpu")
    assert best.kind == "cpu" and best.available and not best.simulated


def test_simulated_device_never_answers_a_real_alias():
    for alias in ("cpu", "gpu", "npu"):
        try:
            assert not xo.api.devices.resolve(alias).simulated
        except xo.DeviceUnavailableError:
            pass


@pytest.mark.parametrize(
    "precision, shape_class, want",
    [
        ("fp32", 2, "openblas"),  # skinny fp32: openblas streamed the GEMV fastest
        ("int8", 2, "simd"),
        ("int4", 2, "simd"),
        ("bf16", 2, "simd"),
        ("fp32", 3, "simd"),  # attention
        ("fp32", 1, "openblas"),  # small: the least cost per call
        ("fp32", 0, "onednn"),  # large
    ],
)
def test_cpu_alias_follows_the_ranking_table(precision, shape_class, want):
    """The cpu alias picks by the written-down table of csrc/core/registry.c
    (a policy, not a property of this CPU): the ranked backend when it is
    present and runs the precision."""
    needs_backend(want)  # fails where XPUOPS_REQUIRE names it
    dev = next(d for d in xo.devices() if d.name == want)
    if precision not in dev.precisions:
        # a skip only for a CPU without the feature (tests/matrix.py's
        # table); a precision the table expects here must be declared
        must = matrix.expected(want)
        assert precision not in must, f"{want} must declare {precision}: {must}"
        why = matrix.conditional(want).get(precision, "not in its table")
        pytest.skip(f"{want} has no {precision} on this CPU: {why}")
    got = xo.api.devices.resolve("cpu", precision, shape_class)
    assert got.name == want, f"cpu: {got.name} for {precision}, class {shape_class}"

"""Every kernel time says where it came from (DESIGN.md s3): the device's own
events, a host wall clock around the run, or a performance model. Checked
per device, for each op, in last_info() and in a Measurement's record."""

import matrix
import numpy as np
import pytest
import xpuops as xo

#: What each backend's kernel time is, by construction: OpenCL reads its
#: kernels' profiling events, the simulator reports its model, and the
#: others are timed by a host clock around the run (OpenVINO around its
#: infer request, the core around everyone else's).
TIMING = {
    "ref": "wall",
    "openblas": "wall",
    "onednn": "wall",
    "opencl": "events",
    "openvino": "wall",
    "npusim": "modeled",
    "simd": "wall",
}
DEVICES = [d for d in xo.devices() if d.available]


def _call(op, dev):
    prec = "fp32" if "fp32" in dev.precisions else "int8"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    if op == "matmul":
        return xo.matmul(x[0, 0], x[0, 1], device=dev.name, precision=prec)
    if op == "conv2d":
        w = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
        return xo.conv2d(x, w, device=dev.name, precision=prec)
    return xo.attention(x, x, x, device=dev.name, precision=prec)


@pytest.mark.parametrize(
    "dev,op",
    [
        pytest.param(d, op, id=f"{d.name}-{op}")
        for d in DEVICES
        for op in ("matmul", "conv2d", "attention")
        # an op a backend lacks is refused (tests/test_matrix.py)
        if matrix.runs(d.backend, op)
    ],
)
def test_last_info_says_where_the_kernel_time_came_from(dev, op):
    _call(op, dev)
    info = xo.last_info()
    assert info["timing"] == TIMING[dev.backend], info
    assert info["kernel_s"] > 0
    assert info["modeled"] == (info["timing"] == "modeled")


@pytest.mark.parametrize("dev", DEVICES, ids=lambda d: d.name)
def test_measurement_and_record_carry_the_timing(dev):
    a = np.ones((16, 16), np.float32)
    prec = "fp32" if "fp32" in dev.precisions else "int8"
    m = xo.measure(
        xo.matmul, a, a, device=dev.name, precision=prec, repeats=3, accuracy=False
    )
    assert m.timing == TIMING[dev.backend]
    cmp = xo.compare(xo.matmul, a, a, devices=[dev.name], precisions=[prec], repeats=3)
    assert [r["timing"] for r in cmp.records()] == [TIMING[dev.backend]]

"""Shared fixtures: the devices under test, accuracy bounds, random data.

The cross-device harness is parametrized over every *available* device, so
a backend joins every op x precision test by registering in the C core.
Devices this machine lacks are not collected; backends named in
XPUOPS_REQUIRE must be present (tests/test_devices.py fails otherwise)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xpuops as xo

#: Available devices; the harness runs each op x precision on all of them.
DEVICES = [d.name for d in xo.devices() if d.available]
REQUIRED = [b for b in os.environ.get("XPUOPS_REQUIRE", "ref").split(",") if b]

FLOAT = ("fp64", "fp32", "bf16", "fp16", "fp8")
INTEGER = ("int8", "int4")

#: Least SQNR (dB) against the fp64 product of the *unrounded* inputs, for
#: standard-normal data. Set from the error each format's rounding must give
#: (about 6 dB per mantissa bit), with margin; a broken rounding or
#: accumulation falls well below them.
SQNR_VS_FP64 = {
    "fp64": 250.0,
    "fp32": 110.0,
    "bf16": 40.0,
    "fp16": 58.0,
    "fp8": 22.0,
    "int8": 30.0,
    "int4": 12.0,
}

#: Least SQNR (dB) of a float precision against the fp64 product of the
#: operands *already rounded* to its format: only accumulation error is left
#: (f32 accumulation for every narrow format).
SQNR_VS_TWIN = {
    "fp64": 250.0,
    "fp32": 110.0,
    "bf16": 110.0,
    "fp16": 110.0,
    "fp8": 110.0,
}


def pairs(precisions) -> list:
    """(device, precision) for every available device and each of precisions
    it declares in Device.precisions; the rest are checked to raise
    UnsupportedError in test_errors.py."""
    return [
        (d.name, p)
        for d in xo.devices()
        if d.available
        for p in precisions
        if p in d.precisions
    ]


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)

"""Shared fixtures: the devices under test, accuracy bounds, random data.

The cross-device harness is parametrized over the declared matrix
(tests/matrix.py): every (device, precision) an available device declares,
plus the pairs this CPU's table or XPUOPS_REQUIRE expects that a device
does not declare (a failure when required, a skip with the reason when
not). Every backend x precision a device does not declare is checked to
raise UnsupportedError in tests/test_matrix.py."""

from __future__ import annotations

import os
import tempfile

# hermetic and quick: no OpenCL tuning search unless a test asks for one,
# and no user's tuning cache read or written (tests/test_opencl_tune.py)
os.environ["XPUOPS_OPENCL_AUTOTUNE"] = "0"
os.environ["XPUOPS_CACHE_DIR"] = tempfile.mkdtemp(prefix="xpuops-test-cache-")

import bounds  # noqa: E402
import matrix  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xpuops as xo  # noqa: E402

#: Available devices; the harness runs each op x precision on all of them.
DEVICES = [d.name for d in xo.devices() if d.available]
REQUIRED = list(matrix.parse_require())


def backend_missing(backend: str) -> str | None:
    """Why no device of ``backend`` is available here, or None when one is.
    Tests that need it call ``needs_backend``: a backend XPUOPS_REQUIRE
    names (CI installs it) is a failure when absent, never a skip."""
    devs = [d for d in xo.devices() if d.backend == backend]
    if any(d.available for d in devs):
        return None
    return devs[0].reason if devs else "not registered in this build"


def needs_backend(backend: str) -> None:
    """Fail (required) or skip (not required) unless ``backend`` has an
    available device here."""
    why = backend_missing(backend)
    if why is None:
        return
    if backend in REQUIRED:
        pytest.fail(f"{backend} is required (XPUOPS_REQUIRE) but unavailable: {why}")
    pytest.skip(f"{backend} is unavailable here and not required: {why}")


# the bounds live in tests/bounds.py, with the checks that apply them
FLOAT, INTEGER = bounds.FLOAT, bounds.INTEGER
SQNR_VS_FP64, SQNR_VS_TWIN = bounds.SQNR_VS_FP64, bounds.SQNR_VS_TWIN


def pairs(precisions, exclude=(), op=None) -> list:
    """pytest params (device, precision) of the declared matrix for these
    precisions (tests/matrix.py); ``exclude``: (backend, precision) pairs
    the op documents as unsupported (tested to raise elsewhere); ``op``:
    skips for the backends that lack it (matrix.OPS)."""
    return matrix.pairs(precisions, exclude=exclude, op=op)


#: tests/test_fuzz.py's counts per property (examples that reached the
#: accuracy checks, wrong results rejected), printed below
FUZZ_REPORT = {}


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("xpuops test matrix on this CPU")
    for line in matrix.describe():
        terminalreporter.write_line(line)
    if any(c.total for c in FUZZ_REPORT.values()):
        terminalreporter.section("xpuops fuzz: examples that reached the checks")
        for c in FUZZ_REPORT.values():
            if c.total:
                terminalreporter.write_line(str(c))


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)

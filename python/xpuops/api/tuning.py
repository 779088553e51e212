"""The OpenCL GEMM tuner from Python: where its cache lives, and a search on
request (``xpuops tune``).

The tuner itself is in the C core (csrc/backends/opencl/tune.c): when a plan
for a GEMM shape class is made on an OpenCL device and neither
``XPUOPS_OPENCL_TUNE`` nor a cached result says which parameters to use, it
searches for ``XPUOPS_OPENCL_TUNE_BUDGET`` seconds (default 10) and writes
the result to the device's cache file. ``XPUOPS_OPENCL_AUTOTUNE=0`` turns
that search off (the fixed table is used instead). Plans are made before a
measurement's timed calls, so a search is never inside one."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _core
from .devices import devices
from .ops import last_info, matmul
from .quant import quantize

#: The shape classes the tuner keeps apart, with the problem ``tune`` runs
#: for each (M, K, N): the C tuner times its own fixed shape per class.
CLASSES = {"large": (512, 512, 512), "skinny": (1, 2048, 2048)}


def cache_dir() -> Path:
    """The directory of the tuning cache files, as the C tuner finds it:
    ``XPUOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/xpuops``, else
    ``~/.cache/xpuops`` (platformdirs' user cache directory on Linux)."""
    if os.environ.get("XPUOPS_CACHE_DIR"):
        return Path(os.environ["XPUOPS_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "xpuops"
    return Path.home() / ".cache" / "xpuops"


def cache_files() -> list:
    """The OpenCL tuning cache files present (one per device)."""
    return sorted(cache_dir().glob("opencl-tuning-*.txt"))


@contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Tuned:
    """One shape class tuned: the class, the precision it ran and the
    implementation string (kernel, parameters, search time)."""

    device: str
    shape_class: str
    precision: str
    impl: str


def tune(device: str = "opencl:0", budget: float = 10.0) -> list:
    """Search the GEMM parameters of an OpenCL ``device`` again, for every
    shape class in fp32 and int8, ``budget`` seconds in all (split evenly),
    and write them to the device's cache file. Returns a list of Tuned.
    ValueError for a device that is not an available OpenCL one."""
    dev = next((d for d in devices() if d.name == device), None)
    if dev is None or dev.backend != "opencl" or not dev.available:
        names = [d.name for d in devices() if d.backend == "opencl" and d.available]
        raise ValueError(
            f"device must be an available OpenCL device ({', '.join(names) or 'none'}"
            f" on this machine), got {device!r}"
        )
    if budget <= 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget}")
    precisions = ("fp32", "int8")
    share = budget / (len(CLASSES) * len(precisions))
    rng = np.random.default_rng(0)
    out = []
    env = dict(
        XPUOPS_OPENCL_AUTOTUNE=1,
        XPUOPS_OPENCL_RETUNE=1,
        XPUOPS_OPENCL_TUNE_BUDGET=f"{share:.3f}",
    )
    if "XPUOPS_OPENCL_TUNE" in os.environ:
        raise ValueError(
            "XPUOPS_OPENCL_TUNE is set and overrides every tuned result: unset it "
            "to tune"
        )
    with _env(**env):
        for cls, (m, k, n) in CLASSES.items():
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            for prec in precisions:
                _core.cache_clear()  # a new plan: the tuner runs in it
                if prec == "fp32":
                    matmul(a, b, device=device, precision=prec)
                else:
                    matmul(quantize(a), quantize(b, axis=1), device=device)
                out.append(Tuned(device, cls, prec, last_info()["impl"]))
    _core.cache_clear()  # later plans read the new results
    return out

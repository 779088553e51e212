"""Find the libraries of the CPU backends in their Python packages and tell
the C core, before it enumerates devices. A missing package is not an error
here: the backend then reports itself unavailable, with the reason."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from .. import _core
from .chipdata import CHIPS

#: backend -> (environment override, finder)
ENV = {
    "openblas": "XPUOPS_OPENBLAS_LIB",
    "onednn": "XPUOPS_ONEDNN_LIB",
    "openvino": "XPUOPS_OPENVINO_LIB",
}


def _openblas() -> str | None:
    try:
        import scipy_openblas32 as sob
    except ImportError:
        return None
    path = Path(sob.get_lib_dir()) / f"lib{sob.get_library()}.so"
    return str(path) if path.exists() else None


def _dist_file(dist: str, name: str) -> str | None:
    """A file a wheel installed (wheels of C libraries put them under the
    environment's data directory, e.g. <venv>/lib)."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == name:
            path = Path(f.locate()).resolve()
            if path.exists():
                return str(path)
    return None


def _onednn() -> str | None:
    return _dist_file("onednn-cpu-gomp", "libdnnl.so.3")


def _openvino() -> str | None:
    try:
        spec = importlib.util.find_spec("openvino")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = Path(list(spec.submodule_search_locations)[0]) / "libs"
    hits = sorted(libs.glob("libopenvino_c.so*"))
    return str(hits[0]) if hits else None


FINDERS = {"openblas": _openblas, "onednn": _onednn, "openvino": _openvino}


#: Thread pools that spin after a call steal the cores the other library
#: needs next: measured on 2 cores, oneDNN right after OpenBLAS ran 1.6x
#: slower (OpenBLAS workers spin ~0.1 s by default) and OpenBLAS after
#: oneDNN 1.3x (GOMP's spin count). Both libraries read these when they
#: load; a value the user set is kept.
SPIN_LIMITS = {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "10000"}
#: The backend whose pool each variable tunes (named in Device.threads).
SPIN_LIMIT_BACKEND = {"OPENBLAS_THREAD_TIMEOUT": "openblas", "GOMP_SPINCOUNT": "onednn"}

#: What import did to the process environment: name -> (value, who set it,
#: "xpuops" or "user"). Published as ``xpuops.environment``.
ENVIRONMENT: dict = {}


def npu_profiles() -> dict:
    """slug -> Chip for every rated INT8 NPU of xo.chips with a bandwidth."""
    out = {}
    for c in CHIPS:
        if c.value and c.bandwidth and c.precision == "int8" and "NPU" in c.block:
            out[c.name.lower().replace(" ", "-")] = c
    return out


def configure() -> dict:
    """Set each backend's library path in the core, and the spin limits that
    keep the two CPU thread pools from oversubscribing the cores; returns
    the libraries found."""
    for name, value in SPIN_LIMITS.items():
        if name in os.environ:  # the user's own setting wins
            ENVIRONMENT[name] = (os.environ[name], "user")
        else:
            os.environ[name] = value
            ENVIRONMENT[name] = (value, "xpuops")
    for slug, chip in npu_profiles().items():
        # the model's assumptions (utilisation, dispatch cost) are npusim's
        _core.npusim_add_chip(slug, chip.name, chip.value, chip.bandwidth)
    found = {}
    for backend, finder in FINDERS.items():
        path = os.environ.get(ENV[backend]) or finder()
        if path:
            _core.set_library_path(backend, path)
            found[backend] = path
    return found

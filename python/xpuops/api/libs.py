"""What import tells the C core before it enumerates devices: where Python
wheels put files (each backend finds its own library there; a missing
package leaves that backend unavailable, with the reason), the thread-pool
spin limits, and the NPU simulator's chip profiles."""

from __future__ import annotations

import os
import site
import sys

from .. import _core
from .chipdata import CHIPS


def search_roots() -> list:
    """Where Python wheels put files: the environment's prefix (data files
    such as <venv>/lib) and site-packages, first ones first. Each backend
    looks there for its own library (csrc/backends/*: the patterns), or
    takes the file its XPUOPS_<BACKEND>_LIB variable names."""
    roots = [sys.prefix]
    try:
        roots += site.getsitepackages()
    except AttributeError:  # some embedded interpreters
        pass
    roots += [p for p in sys.path if p.endswith("site-packages")]
    seen, out = set(), []
    for r in roots:
        if r and r not in seen and os.path.isdir(r):
            seen.add(r)
            out.append(r)
    return out[:8]


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


def configure() -> list:
    """Tell the core where wheels put files and the simulated NPUs' chips,
    and set the spin limits that keep the two CPU thread pools from
    oversubscribing the cores; returns the search roots."""
    for name, value in SPIN_LIMITS.items():
        if name in os.environ:  # the user's own setting wins
            ENVIRONMENT[name] = (os.environ[name], "user")
        else:
            os.environ[name] = value
            ENVIRONMENT[name] = (value, "xpuops")
    for slug, chip in npu_profiles().items():
        # the model's assumptions (utilisation, dispatch cost) are npusim's
        _core.npusim_add_chip(slug, chip.name, chip.value, chip.bandwidth)
    roots = search_roots()
    _core.set_search_roots(roots)
    return roots

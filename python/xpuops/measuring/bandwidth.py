"""Measured memory read bandwidth of a device (a STREAM-like read, cached
per process in xpuops.api.peaks, where Device.bandwidth finds it)."""

from __future__ import annotations

from .. import _core
from ..api.devices import get_num_threads, resolve
from ..api.peaks import DEFAULT_BYTES, _bandwidth

__all__ = ["DEFAULT_BYTES", "bandwidth"]


def bandwidth(device="cpu", nbytes: int = DEFAULT_BYTES) -> float:
    """Measured memory read bandwidth of ``device`` in bytes/s: all threads
    read disjoint slices of an ``nbytes`` buffer, best of five passes.
    CPU devices share the machine's memory and so one figure."""
    dev = resolve(device)
    if dev.kind != "cpu":
        raise NotImplementedError(
            f"bandwidth of a {dev.kind} device is measured "
            "by its own backend, which has not landed"
        )
    key = ("cpu", nbytes, get_num_threads())
    if key not in _bandwidth:
        _bandwidth[key] = _core.measure_bandwidth(int(nbytes), get_num_threads())
    return _bandwidth[key]

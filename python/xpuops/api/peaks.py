"""Theoretical peaks of a device, each with its formula (from the
hardware's features, or a simulated NPU's rated figure), and the memory
bandwidth measured for it in this process (the measurement itself is
xpuops.bandwidth)."""

from __future__ import annotations

from .. import _core
from .cpu import measured_clock_ghz, peak_formula
from .throughput import Throughput

_bandwidth: dict = {}

#: Read-bandwidth buffer: larger than the last-level caches of the machines
#: this runs on, so the figure is the memory's, not a cache's.
DEFAULT_BYTES = 1 << 30


def theoretical(dev) -> dict:
    """precision -> Throughput for each precision the device runs, from what
    its backend reports (xo_device_desc.peak): a CPU backend's operations
    per cycle per core, multiplied here by the measured clock and the cores
    it uses (set_num_threads, or its own fixed count: ref runs on one);
    an OpenCL device's own figure; a simulated NPU's rated one. {} where
    the backend describes no peak."""
    if not dev.available:
        return {}
    out = {}
    for prec, pk in dev.peak_info.items():
        if pk["ops_per_cycle"] > 0:
            cores = dev.peak_cores or _core.get_num_threads()
            ghz = measured_clock_ghz()
            out[prec] = Throughput(
                cores * ghz * 1e9 * pk["ops_per_cycle"],
                prec,
                pk["source"],
                peak_formula(cores, ghz, pk["ops_per_cycle"], pk["formula"]),
            )
        elif pk["ops_per_s"] > 0:
            out[prec] = Throughput(pk["ops_per_s"], prec, pk["source"], pk["formula"])
    return out


def known_bandwidth(dev):
    """The bandwidth measured for dev's memory in this process (a simulated
    NPU: its chip's rated bandwidth), or None."""
    if dev.bandwidth_gbs:  # a simulated NPU's rated bandwidth
        return dev.bandwidth_gbs * 1e9
    if dev.kind != "cpu":
        return None
    for (kind, nbytes, threads), bps in _bandwidth.items():
        if (
            kind == "cpu"
            and nbytes == DEFAULT_BYTES
            and threads == _core.get_num_threads()
        ):
            return bps
    return None

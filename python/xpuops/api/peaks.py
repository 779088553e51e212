"""Theoretical peaks of a device, each with its formula (from the
hardware's features, or a simulated NPU's rated figure), and the memory
bandwidth measured for it in this process (the measurement itself is
xpuops.bandwidth)."""

from __future__ import annotations

from .. import _core
from .cpu import machine_peaks
from .libs import npu_profiles
from .throughput import Throughput

_bandwidth: dict = {}

#: Read-bandwidth buffer: larger than the last-level caches of the machines
#: this runs on, so the figure is the memory's, not a cache's.
DEFAULT_BYTES = 1 << 30


def opencl_peaks(dev) -> dict:
    """Peaks of an OpenCL device from what it reports: compute units x clock
    x preferred vector lanes x 2 (one multiply-add per lane per cycle). The
    kernels compute in f32 or s32 whatever the storage format, so every
    float precision has fp32's ceiling and the integer ones int32's."""
    if not (dev.compute_units and dev.clock_mhz and dev.vector_f32):
        return {}
    base = dev.compute_units * dev.clock_mhz * 1e6 * 2
    head = f"{dev.compute_units} compute units x {dev.clock_mhz / 1000:.2f} GHz"
    out = {}
    for prec in dev.precisions:
        lanes = dev.vector_i32 if prec in ("int8", "int4") else dev.vector_f32
        kind = "int32" if prec in ("int8", "int4") else "float"
        out[prec] = Throughput(
            base * lanes,
            prec,
            "theoretical",
            f"{head} x {lanes} {kind} lanes x 2 (multiply-add; the device's "
            f"reported width, computing {prec} in {kind})",
        )
    return out


#: The profile of plain device="npusim" (see csrc/backends/npusim/npusim.c).
GENERIC_NPU = {"tops": 50.0, "gbs": 120.0, "label": "generic laptop NPU"}


def npu_profile(dev) -> tuple:
    """(rated INT8 TOPS, GB/s, label) of a simulated NPU device."""
    slug = dev.name.partition(":")[2]
    chip = npu_profiles().get(slug)
    if chip is None:
        return GENERIC_NPU["tops"], GENERIC_NPU["gbs"], GENERIC_NPU["label"]
    return chip.value, chip.bandwidth, chip.name


def rated_peaks(dev) -> dict:
    """A simulated NPU's rated figure (source "rated") as its peak."""
    tops, _, label = npu_profile(dev)
    return {
        p: Throughput(
            tops * 1e12,
            p,
            "rated",
            f"{label}: {tops:g} INT8 TOPS as rated"
            + ("; int4 weights modeled at the INT8 rate" if p == "int4" else ""),
        )
        for p in dev.precisions
    }


def theoretical(dev) -> dict:
    """precision -> Throughput (source "theoretical") for each precision the
    device runs; {} where the hardware is not described (yet). A simulated
    NPU gets its chip's rated figure (source "rated")."""
    if dev.simulated and dev.backend == "npusim":
        return rated_peaks(dev)
    if dev.backend == "opencl" and dev.available:
        return opencl_peaks(dev)
    if dev.kind != "cpu" or dev.simulated or not dev.available:
        return {}
    # ref runs on one thread; the other CPU backends on set_num_threads
    cores = 1 if dev.backend == "ref" else _core.get_num_threads()
    peaks = machine_peaks(cores)
    return {p: t for p, t in peaks.items() if p in dev.precisions}


def known_bandwidth(dev):
    """The bandwidth measured for dev's memory in this process (a simulated
    NPU: its chip's rated bandwidth), or None."""
    if dev.simulated and dev.backend == "npusim":
        return npu_profile(dev)[1] * 1e9
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

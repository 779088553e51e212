"""Peaks and bandwidth per device: theoretical (from the hardware, with its
formula), measured attainable (a compute-bound kernel) and measured memory
bandwidth (a STREAM-like read). Measured figures are cached per process."""

from __future__ import annotations

import numpy as np

from . import _core
from ._cpu import machine_peaks
from ._devices import Device, get_num_threads, resolve
from ._throughput import Throughput

_bandwidth: dict = {}
_attained: dict = {}

#: Read-bandwidth buffer: larger than the last-level caches of the machines
#: this runs on, so the figure is the memory's, not a cache's.
DEFAULT_BYTES = 1 << 30


def opencl_peaks(dev: Device) -> dict:
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


def npu_profile(dev: Device) -> tuple:
    """(rated INT8 TOPS, GB/s, label) of a simulated NPU device."""
    from ._libs import npu_profiles

    slug = dev.name.partition(":")[2]
    chip = npu_profiles().get(slug)
    if chip is None:
        return GENERIC_NPU["tops"], GENERIC_NPU["gbs"], GENERIC_NPU["label"]
    return chip.value, chip.bandwidth, chip.name


def rated_peaks(dev: Device) -> dict:
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


def theoretical(dev: Device) -> dict:
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
    cores = 1 if dev.backend == "ref" else get_num_threads()
    peaks = machine_peaks(cores)
    return {p: t for p, t in peaks.items() if p in dev.precisions}


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


def known_bandwidth(dev: Device):
    """The bandwidth measured for dev's memory in this process (a simulated
    NPU: its chip's rated bandwidth), or None."""
    if dev.simulated and dev.backend == "npusim":
        return npu_profile(dev)[1] * 1e9
    if dev.kind != "cpu":
        return None
    for (kind, nbytes, threads), bps in _bandwidth.items():
        if kind == "cpu" and nbytes == DEFAULT_BYTES and threads == get_num_threads():
            return bps
    return None


def peak(device, precision: str, n: int | None = None) -> Throughput:
    """The measured attainable peak of ``device`` in ``precision``: the best
    rate of a compute-bound n x n x n matmul (default 2048, 512 on ref),
    with pre-quantized operands for integer precisions so only the kernel
    is timed. Source "measured", or "modeled" on a simulated device (its
    times come from a performance model)."""
    from ._measure import measure
    from ._ops import matmul
    from ._quant import quantize

    dev = resolve(device, precision)
    n = n or (512 if dev.backend == "ref" else 2048)
    key = (dev.name, precision, n, get_num_threads())
    if key not in _attained:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        if precision in ("int8", "int4"):
            a, b = quantize(a), quantize(b, precision, axis=1)
        m = measure(matmul, a, b, device=dev.name, precision=precision, accuracy=False)
        _attained[key] = Throughput(
            m.throughput.ops_per_s,
            precision,
            m.source,
            f"{n}^3 matmul on {dev.name}: {m.impl}",
        )
    return _attained[key]

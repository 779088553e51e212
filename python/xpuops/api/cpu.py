"""What this CPU is and what it could do in theory: model, ISA flags, cores
this process may use, a measured sustained clock, and per-precision
theoretical peaks (cores x clock x operations per cycle of the widest native
instruction), each with the formula it came from."""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

from .. import _core
from .throughput import Throughput


def _cpuinfo() -> dict:
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return info


@dataclass(frozen=True)
class CpuInfo:
    """This machine's CPU as the OS reports it."""

    model: str
    flags: frozenset
    cores: int  # cores this process may run on
    nominal_mhz: float  # /proc/cpuinfo's figure, not a measured one


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """The CPU model, ISA flags, usable cores and nominal clock."""
    info = _cpuinfo()
    return CpuInfo(
        model=info.get("model name", platform.processor() or "unknown CPU"),
        flags=frozenset(info.get("flags", "").split()),
        cores=len(os.sched_getaffinity(0)),
        nominal_mhz=float(info.get("cpu MHz", "0") or 0),
    )


@functools.lru_cache(maxsize=1)
def llc_bytes() -> int:
    """Size of the last-level cache the first CPU sees (Linux sysfs: the
    highest-level data or unified cache), in bytes; 0 where the OS does not
    say. A working set up to this size can stay in cache between calls."""
    best_level, size = 0, 0
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(root)
    except OSError:
        return 0
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            with open(f"{root}/{entry}/level") as f:
                level = int(f.read())
            with open(f"{root}/{entry}/type") as f:
                kind = f.read().strip()
            with open(f"{root}/{entry}/size") as f:
                text = f.read().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or level < best_level:
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            best_level, size = level, int(digits) * mult
    return size


@functools.lru_cache(maxsize=1)
def measured_clock_ghz() -> float:
    """The sustained clock of one core (a chain of dependent register adds,
    best of five runs), in GHz; the nominal clock where the probe cannot
    run."""
    try:
        return _core.measure_clock()
    except Exception:  # not x86-64: fall back to what the OS says
        return cpu_info().nominal_mhz / 1000


def theoretical_peaks(flags, cores: int, ghz: float) -> dict:
    """precision -> Throughput (source "theoretical", the formula in
    ``detail``) for a CPU with these ISA flags (/proc/cpuinfo names), cores
    and clock, from the core's table (the one the CPU backends report
    from). Pure: the tests feed it known feature sets."""
    peaks = {}
    for code, prec in enumerate(_core.PRECISIONS):
        per_cycle, what = _core.cpu_peak(frozenset(flags), code)
        if per_cycle > 0:
            peaks[prec] = Throughput(
                cores * ghz * 1e9 * per_cycle,
                prec,
                "theoretical",
                peak_formula(cores, ghz, per_cycle, what),
            )
    return peaks


def peak_formula(cores: int, ghz: float, per_cycle: float, what: str) -> str:
    """How a CPU peak is computed, in words: cores x clock x ops/cycle."""
    return f"{cores} cores x {ghz:.2f} GHz x {per_cycle:g} ops/cycle ({what})"

"""What this CPU is and what it could do in theory: model, ISA flags, cores
this process may use, nominal clock, and per-precision theoretical peaks
(cores x clock x operations per cycle of the widest native instruction),
each with the formula it came from."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from ._throughput import Throughput


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
    mhz: float  # nominal clock (/proc/cpuinfo), not a measured one


def cpu_info() -> CpuInfo:
    """The CPU model, ISA flags, usable cores and nominal clock."""
    info = _cpuinfo()
    return CpuInfo(
        model=info.get("model name", platform.processor() or "unknown CPU"),
        flags=frozenset(info.get("flags", "").split()),
        cores=len(os.sched_getaffinity(0)),
        mhz=float(info.get("cpu MHz", "0") or 0),
    )


# Operations per cycle per core of the widest native instruction, by ISA
# flag (best first). AVX-512 and AVX2 figures assume two FMA ports, as on
# Xeon cores; AMX is one TMUL unit per core: 1024 BF16 FLOP or 2048 INT8 OP
# per cycle.
_OPS_PER_CYCLE = {
    "fp32": [
        ("avx512f", 64, "2 x AVX-512 FMA x 16 lanes x 2"),
        ("avx2", 32, "2 x AVX2 FMA x 8 lanes x 2"),
    ],
    "fp64": [
        ("avx512f", 32, "2 x AVX-512 FMA x 8 lanes x 2"),
        ("avx2", 16, "2 x AVX2 FMA x 4 lanes x 2"),
    ],
    "bf16": [
        ("amx_bf16", 1024, "AMX-BF16 TMUL"),
        ("avx512_bf16", 128, "2 x AVX512-BF16 dot x 32 pairs x 2"),
    ],
    "fp16": [
        ("amx_fp16", 1024, "AMX-FP16 TMUL"),
        ("avx512_fp16", 128, "2 x AVX512-FP16 FMA x 32 lanes x 2"),
    ],
    "int8": [
        ("amx_int8", 2048, "AMX-INT8 TMUL"),
        ("avx512_vnni", 256, "2 x AVX-512 VNNI x 64 MACs x 2"),
    ],
}


def theoretical_peak(precision: str, cpu: CpuInfo | None = None):
    """(Throughput, formula) of the widest native instruction for precision
    on all usable cores at the nominal clock, or None if no listed ISA."""
    cpu = cpu or cpu_info()
    for flag, per_cycle, what in _OPS_PER_CYCLE.get(precision, []):
        if flag in cpu.flags and cpu.mhz > 0:
            ops = cpu.cores * cpu.mhz * 1e6 * per_cycle
            formula = (
                f"{cpu.cores} cores x {cpu.mhz / 1000:.2f} GHz x "
                f"{per_cycle} ops/cycle ({what})"
            )
            return Throughput(ops, precision, "theoretical"), formula
    return None

"""The declared test matrix: which (backend, precision) pairs this CPU must
have, derived from its ISA flags by a fixed table (not from what the devices
happen to declare), and XPUOPS_REQUIRE, which names what CI requires.

XPUOPS_REQUIRE is a comma-separated list of entries:

    ref,openblas:fp32+fp64,onednn,opencl,openvino,npusim

A bare backend requires every precision EXPECTED gives it on this CPU, and
exactly those: a precision that disappears fails the suite, and so does one
that appears without the table saying so (the table is then out of date).
``backend:p1+p2`` requires at least the listed precisions. A backend that is
not named may be absent; when present, its table precisions it does not
declare are shown as skips with the reason, never silently left out.

The table holds for x86-64 Linux CPUs, with the build's libraries
(oneDNN 3.2 from onednn-cpu-gomp, scipy-openblas32, PoCL, OpenVINO's CPU
plugin). Each entry is (precision, condition, why): the condition is a set of
/proc/cpuinfo flags that must all be present (empty: always).
"""

from __future__ import annotations

import functools
import os

import xpuops as xo
from xpuops.api.cpu import cpu_info

ALL = tuple(xo.PRECISIONS)

#: oneDNN 3.2 creates a primitive for a data type only where
#: platform::has_data_type_support says the ISA can: bf16 needs AVX-512
#: (avx512_core) or AVX2-VNNI-2, f16 needs AVX512-FP16 or AVX2-VNNI-2.
_AVX512_CORE = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})
_AVX2_VNNI_2 = frozenset({"avx_vnni", "avx_vnni_int8", "avx_ne_convert"})
#: xpuops offers oneDNN int8 only with a VNNI dot product: without one,
#: oneDNN's u8 x s8 pair sums saturate s16 (docs/DESIGN.md s7)
_VNNI = [frozenset({"avx512_vnni"}), frozenset({"avx_vnni"}), frozenset({"amx_int8"})]

#: ONEDNN_MAX_CPU_ISA -> the /proc/cpuinfo flags oneDNN may still use: the
#: caps make test runs the oneDNN harness under (Makefile ISA_CAPS)
_ISA_CAP_DROPS = {
    "AVX2": lambda f: {x for x in f if not x.startswith(("avx512", "amx", "avx_"))},
    "AVX512_CORE": lambda f: {
        x
        for x in f
        if not x.startswith(("amx", "avx_"))
        and x not in ("avx512_vnni", "avx512_bf16", "avx512_fp16")
    },
}

#: XPUOPS_MAX_ISA -> the flags the simd kernels may still use (the levels of
#: csrc/backends/simd/simd.h; make test reruns the simd tests under
#: SIMD_CAPS). An unknown level leaves simd unavailable, which
#: XPUOPS_REQUIRE=simd turns into a failure.
_SIMD_CAP_DROPS = {
    "AVX2": _ISA_CAP_DROPS["AVX2"],
    "AVX2_VNNI": lambda f: {x for x in f if not x.startswith(("avx512", "amx"))},
    "AVX512_CORE": _ISA_CAP_DROPS["AVX512_CORE"],
    "AVX512_CORE_VNNI": lambda f: {
        x
        for x in f
        if not x.startswith("amx") and x not in ("avx512_bf16", "avx512_fp16")
    },
    "AVX512_CORE_BF16": lambda f: {
        x for x in f if not x.startswith("amx") and x != "avx512_fp16"
    },
    "AVX512_CORE_FP16": lambda f: {x for x in f if not x.startswith("amx")},
}
#: the simd kernels' base level: AVX2 with FMA and F16C
_SIMD_BASE = [frozenset({"avx2", "fma", "f16c"})]

#: backend -> [(precision, [alternative flag sets, any one suffices], why)]
EXPECTED = {
    "ref": [(p, [frozenset()], "portable C for every precision") for p in ALL],
    "openblas": [
        ("fp64", [frozenset()], "dgemm"),
        ("fp32", [frozenset()], "sgemm"),
        # scipy-openblas32 exports no sbgemm/shgemm: nothing narrower
    ],
    "onednn": [
        ("fp32", [frozenset()], "f32 matmul on any x86-64"),
        ("int8", _VNNI, "exact s8 accumulators need a VNNI dot product"),
        ("int4", _VNNI, "s4 runs on s8 (oneDNN 3.2 has no s4), which needs VNNI"),
        (
            "bf16",
            [_AVX512_CORE, _AVX2_VNNI_2],
            "bf16 needs AVX-512 (avx512f/bw/vl/dq) or AVX2-VNNI-2",
        ),
        (
            "fp8",
            [_AVX512_CORE, _AVX2_VNNI_2],
            "fp8 runs on bf16 (oneDNN 3.2 has no f8), which needs AVX-512 or "
            "AVX2-VNNI-2",
        ),
        (
            "fp16",
            [_AVX512_CORE | {"avx512_fp16"}, _AVX2_VNNI_2],
            "f16 needs AVX512-FP16 or AVX2-VNNI-2 (avx_vnni, avx_vnni_int8, "
            "avx_ne_convert)",
        ),
    ],
    # xpuops' own kernels compute every format in f32 / s32: no fp64 kernels
    "opencl": [
        (p, [frozenset()], "xpuops kernels in f32/s32")
        for p in ("fp32", "bf16", "fp16", "fp8", "int8", "int4")
    ],
    # the CPU plugin (the device CI has): f32, f16 and i8 graphs
    "openvino": [
        (p, [frozenset()], "OpenVINO CPU plugin graph")
        for p in ("fp32", "fp16", "int8", "int4")
    ],
    "npusim": [(p, [frozenset()], "NPU integer pipeline") for p in ("int8", "int4")],
    # xpuops' own intrinsics kernels (issue #12): every precision from the
    # base level up (native or emulated by the level: see Device.precisions)
    "simd": [
        ("fp32", _SIMD_BASE, "FMA on AVX2 or AVX-512"),
        ("bf16", _SIMD_BASE, "vdpbf16ps with AVX512-BF16, else widened to f32"),
        ("int8", _SIMD_BASE, "vpdpbusd with VNNI, else exact vpmaddwd pairs"),
        ("int4", _SIMD_BASE, "nibbles unpacked in registers to the int8 kernels"),
    ],
}
BACKENDS = tuple(EXPECTED)

#: backend -> the ops it implements; every backend not listed runs all
#: three. An op a backend lacks raises UnsupportedError naming the devices
#: that run it (tests/test_matrix.py); the harness shows its pairs as skips.
OPS_ALL = ("matmul", "conv2d", "attention")
OPS = {
    # issue #12 builds matmul and attention; conv2d stays with the libraries
    "simd": ("matmul", "attention"),
}


def runs(backend: str, op: str) -> bool:
    """Whether ``backend`` implements ``op`` (OPS)."""
    return op in OPS.get(backend, OPS_ALL)


def matrix_devices(backend: str) -> list:
    """The available devices of a backend the table speaks for: OpenVINO's
    CPU device (its NPU and GPU declare from their own runtimes), every
    device of the other backends (every npusim profile runs the same
    pipeline)."""
    return [
        d
        for d in xo.devices()
        if d.available
        and d.backend == backend
        and (backend != "openvino" or d.name == "openvino:CPU")
    ]


def expected(backend: str, flags=None) -> dict:
    """precision -> why, for what ``backend`` must declare on a CPU with
    ``flags`` (this CPU's by default)."""
    if flags is None:
        flags = cpu_info().flags
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
        if backend == "onednn" and cap in _ISA_CAP_DROPS:
            flags = frozenset(_ISA_CAP_DROPS[cap](flags))
        simd_cap = os.environ.get("XPUOPS_MAX_ISA", "").upper()
        if backend == "simd" and simd_cap in _SIMD_CAP_DROPS:
            flags = frozenset(_SIMD_CAP_DROPS[simd_cap](flags))
    return {
        p: why
        for p, alts, why in EXPECTED[backend]
        if any(alt <= flags for alt in alts)
    }


def conditional(backend: str, flags=None) -> dict:
    """precision -> why, for what ``backend`` declares on other CPUs but
    must not be expected on this one."""
    here = expected(backend, flags)
    return {p: why for p, _, why in EXPECTED[backend] if p not in here}


@functools.cache
def parse_require(text: str | None = None) -> dict:
    """backend -> (frozenset of required precisions, exact) from
    XPUOPS_REQUIRE (see the module's docstring)."""
    text = os.environ.get("XPUOPS_REQUIRE", "ref") if text is None else text
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        backend, _, precs = item.partition(":")
        if backend not in EXPECTED:
            raise ValueError(
                f"XPUOPS_REQUIRE names unknown backend {backend!r}; known: "
                f"{', '.join(BACKENDS)}"
            )
        if precs:
            ps = frozenset(precs.split("+"))
            bad = ps - set(ALL)
            if bad:
                raise ValueError(
                    f"XPUOPS_REQUIRE entry {item!r}: unknown precision(s) "
                    f"{', '.join(sorted(bad))}; known: {', '.join(ALL)}"
                )
            out[backend] = (ps, False)
        else:
            out[backend] = (frozenset(expected(backend)), True)
    return out


def required_pairs() -> list:
    """(backend, precision) pairs XPUOPS_REQUIRE makes mandatory here."""
    return [(b, p) for b, (ps, _) in parse_require().items() for p in ALL if p in ps]


def pairs(precisions, *, exclude=(), op=None) -> list:
    """pytest params (device, precision) for the harness: every pair an
    available device declares; pairs the table or XPUOPS_REQUIRE expects
    but the device does not declare (they fail: the device raises
    UnsupportedError when called, or skip with the reason when nothing
    requires them); and pairs the table gives the backend only on other
    CPUs (skipped, with the CPU feature that is missing). ``exclude``:
    (backend, precision) pairs an op documents as unsupported. ``op``: a
    backend that lacks it (OPS) gets no pairs (tests/test_matrix.py checks
    that it refuses the op, naming the devices that run it)."""
    import pytest

    req = parse_require()
    out = []
    for d in xo.devices():
        if not d.available:
            continue
        in_table = d in matrix_devices(d.backend)
        must = expected(d.backend) if in_table else {}
        other = conditional(d.backend) if in_table else {}
        required = req.get(d.backend, (frozenset(), False))[0] if in_table else ()
        for p in precisions:
            if (d.backend, p) in exclude:
                continue
            pid = f"{d.name}-{p}"
            if op is not None and not runs(d.backend, op):
                continue  # refused, naming who runs it: tests/test_matrix.py
            if p in d.precisions:
                out.append(pytest.param(d.name, p, id=pid))
            elif p in required:
                out.append(pytest.param(d.name, p, id=pid))  # fails: required
            elif p in must:
                why = f"{d.name} does not declare {p} ({must[p]}); not required"
                out.append(pytest.param(d.name, p, id=pid, marks=pytest.mark.skip(why)))
            elif p in other:
                why = f"{d.name} has no {p} on this CPU: {other[p]}"
                out.append(pytest.param(d.name, p, id=pid, marks=pytest.mark.skip(why)))
    return out


def describe() -> list:
    """Lines describing this CPU's matrix, for the terminal summary."""
    req = parse_require()
    lines = [
        f"XPUOPS_REQUIRE={os.environ.get('XPUOPS_REQUIRE', 'ref')}",
    ]
    for b in BACKENDS:
        devs = matrix_devices(b)
        declared = sorted({p for d in devs for p in d.precisions}, key=ALL.index)
        status = "required" if b in req else "optional"
        missing = ", ".join(f"{p} ({why})" for p, why in conditional(b).items())
        lines.append(
            f"  {b:9s} {status:8s} declares {' '.join(declared) or '-':32s}"
            + (f" not on this CPU: {missing}" if missing else "")
        )
    return lines

"""Peaks: formulas on known feature sets, and the measured figures' sanity."""

import pytest
import xpuops as xo
from xpuops.api.cpu import measured_clock_ghz, theoretical_peaks

SAPPHIRE = {
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
}
HASWELL = {"avx2", "fma"}
ALDER_E = {"avx2", "fma", "avx_vnni"}


@pytest.mark.parametrize(
    "flags,cores,ghz,expect",
    [
        (
            SAPPHIRE,
            2,
            2.0,
            {
                "fp64": 128e9,
                "fp32": 256e9,
                "bf16": 4096e9,
                "fp16": 512e9,
                "int8": 8192e9,
                "fp8": 4096e9,
                "int4": 8192e9,
            },
        ),
        (HASWELL, 4, 3.0, {"fp64": 192e9, "fp32": 384e9}),
        (ALDER_E, 1, 1.0, {"fp64": 16e9, "fp32": 32e9, "int8": 128e9, "int4": 128e9}),
    ],
    ids=["amx", "avx2-only", "avx-vnni"],
)
def test_theoretical_peaks_by_feature_set(flags, cores, ghz, expect):
    peaks = theoretical_peaks(flags, cores, ghz)
    assert set(peaks) == set(expect)
    for prec, ops in expect.items():
        t = peaks[prec]
        assert t.ops_per_s == pytest.approx(ops) and t.precision == prec
        assert t.source == "theoretical"
        assert f"{cores} cores x {ghz:.2f} GHz" in t.detail
    if "int8" in peaks and "amx_int8" in flags:
        assert "AMX-INT8" in peaks["int8"].detail
    if "int4" in peaks:
        assert "no native int4" in peaks["int4"].detail


def test_avx2_cpu_has_no_int8_advantage_on_paper():
    peaks = theoretical_peaks(HASWELL, 4, 3.0)
    assert "int8" not in peaks  # nothing faster than fp32's FMA to claim


def test_devices_carry_their_peaks():
    for d in xo.devices():
        if d.available and d.kind == "cpu":
            assert set(d.peak) <= set(d.precisions)
            for t in d.peak.values():
                assert t.source == "theoretical" and "GHz" in t.detail


def test_measured_clock_and_bandwidth_are_plausible():
    assert 0.3 < measured_clock_ghz() < 8.0
    bw = xo.bandwidth("cpu", nbytes=64 << 20)
    assert 1e8 < bw < 1e13  # bytes/s


PEAKS = [
    (d.name, p)
    for d in xo.devices()
    if d.available and (not d.simulated or d.name == "npusim")
    for p in d.peak
]


@pytest.mark.parametrize("device,precision", PEAKS)
def test_measured_peak_stays_under_the_theoretical_one(device, precision):
    # every device and precision with a peak: a measured (or modeled) rate
    # above the ceiling means the ceiling's formula misses a unit, or the
    # kernel time misses work. A small problem keeps this quick; it says
    # nothing about how close to the ceiling a device gets.
    dev = next(d for d in xo.devices() if d.name == device)
    t = xo.peak(device, precision, n=128)
    assert t.precision == precision
    assert t.source == ("modeled" if dev.simulated else "measured")
    assert 0 < t.ops_per_s <= 1.05 * dev.peak[precision].ops_per_s, (
        f"{device} {precision}: {t} above its peak {dev.peak[precision]} "
        f"({dev.peak[precision].detail})"
    )

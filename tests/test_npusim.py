"""The NPU simulator: TFLite/gemmlowp requantization against hand-computed
cases, accumulators equal to ref's, and figures labelled modeled."""

import numpy as np
import pytest
import xpuops as xo
from xpuops import _core


@pytest.mark.parametrize(
    "real,expect",
    [
        (0.5, (1 << 30, 0)),
        (0.25, (1 << 30, -1)),
        (1.0, (1 << 30, 1)),
        (0.75, (1610612736, 0)),  # round(0.75 * 2^31)
        (2.0**-40, (0, 0)),  # below 2^-31: represented as zero
    ],
)
def test_quantize_multiplier(real, expect):
    assert _core.quantize_multiplier(real) == expect


@pytest.mark.parametrize(
    "acc,real,zp,single,expect",
    [
        (100, 0.5, 0, False, 50),
        (3, 0.5, 0, False, 2),  # 1.5: SRDHM's nudge rounds up
        (-3, 0.5, 0, False, -1),  # -1.5: gemmlowp's SRDHM gives -1
        (6, 0.25, 0, False, 2),  # SRDHM to 3, then 3 / 2 = 1.5 away from 0
        (-6, 0.25, 0, False, -2),  # -1.5 away from zero in RoundingDivideByPOT
        (3, 0.5, 0, True, 2),  # single rounding: half up
        (-3, 0.5, 0, True, -1),  # -1.5 half up is -1
        (10**6, 1.0, 0, False, 127),  # saturation
        (-(10**6), 1.0, 0, False, -128),
        (0, 0.5, 5, False, 5),  # zero point added after rounding
        (250, 0.5, -10, False, 115),
        (300, 0.5, 10, False, 127),  # saturates after the zero point
    ],
)
def test_requantize_hand_computed(acc, real, zp, single, expect):
    m, s = _core.quantize_multiplier(real)
    assert _core.requantize(acc, m, s, zp, single) == expect


def _srdhm(a, b):  # gemmlowp, with C's truncating division
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    q = abs(ab + nudge) // 2**31
    return q if ab + nudge >= 0 else -q


def _rdbpot(x, e):
    mask = (1 << e) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if (x & mask) > threshold else 0)


def test_requantize_matches_the_spec_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        acc = int(rng.integers(-(2**24), 2**24))
        real = float(np.exp(rng.uniform(np.log(1e-5), np.log(2.0))))
        m, s = _core.quantize_multiplier(real)
        left, right = max(s, 0), max(-s, 0)
        want = _rdbpot(_srdhm(acc * (1 << left), m), right)
        assert _core.requantize(acc, m, s, 0, False) == max(-128, min(127, want))


def test_devices_are_simulated_npus():
    sims = {d.name: d for d in xo.devices() if d.backend == "npusim"}
    assert "npusim" in sims and "npusim:snapdragon-x-elite" in sims
    for d in sims.values():
        assert d.available and d.simulated and d.kind == "npu"
        assert set(d.precisions) == {"int8", "int4"}
        assert d.peak["int8"].source == "rated"


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_accumulators_equal_ref_bit_for_bit(precision):
    rng = np.random.default_rng(1)
    x = xo.quantize(rng.standard_normal((2, 6, 9, 9)))
    w = xo.quantize(rng.standard_normal((8, 3, 3, 3)), precision, axis=0)
    kw = dict(padding=1, groups=2, out_dtype=np.int32)
    np.testing.assert_array_equal(
        xo.conv2d(x, w, device="npusim", **kw), xo.conv2d(x, w, device="ref", **kw)
    )
    a = xo.quantize(rng.standard_normal((3, 17, 40)))
    b = xo.quantize(rng.standard_normal((40, 23)), precision, axis=1)
    np.testing.assert_array_equal(
        xo.matmul(a, b, device="npusim:core-ultra-200v", out_dtype=np.int32),
        xo.matmul(a, b, device="ref", out_dtype=np.int32),
    )


def test_float_results_are_requantized_outputs():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((16, 64)).astype(np.float32)
    b = rng.standard_normal((64, 32)).astype(np.float32)
    y = xo.matmul(a, b, device="npusim", precision="int8")
    s_out = np.abs(y).max() / 127
    np.testing.assert_allclose(y / s_out, np.rint(y / s_out), atol=1e-3)
    assert xo.reference.sqnr_db(a.astype(np.float64) @ b, y) > 28


def test_figures_are_modeled_and_follow_the_profile():
    rng = np.random.default_rng(3)
    a = xo.quantize(rng.standard_normal((512, 1024)))
    w = xo.quantize(rng.standard_normal((1024, 1024)), axis=1)
    x = xo.measure(xo.matmul, a, w, device="npusim:snapdragon-x-elite", repeats=2)
    x2 = xo.measure(xo.matmul, a, w, device="npusim:snapdragon-x2-elite", repeats=2)
    assert x.source == "modeled" and x.throughput.source == "modeled"
    assert "MODELED" in str(x) and "model" in x.explain()
    # compute-bound here: the modeled time is ops / (rated TOPS x 0.6) + 50 us
    assert x.kernel_min_s == pytest.approx(x.ops / (45e12 * 0.6) + 50e-6)
    assert x2.kernel_min_s < x.kernel_min_s  # 80 TOPS vs 45
    cmp = xo.compare(
        xo.matmul, a, w, devices=["ref", "npusim"], precisions=["int8"], repeats=2
    )
    sources = [r["source"] for r in cmp.records()]
    assert sources == ["measured", "modeled"]

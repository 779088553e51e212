"""compare(budget=): rows estimated from a probe, the ones that would not
fit skipped and said so in every output format (issue 15)."""

import json

import numpy as np
import pytest
import xpuops as xo
from xpuops.measuring import compare as cmpmod


@pytest.fixture
def ab():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((64, 48)).astype(np.float32),
        rng.standard_normal((48, 32)).astype(np.float32),
    )


def test_a_row_over_the_budget_is_skipped_and_said_everywhere(ab, monkeypatch):
    real = cmpmod._estimate

    def estimate(op, name, args, kw, dev, precision, limit):
        if precision == "int8":
            return 30.0, 0.0  # a call of 30 s cannot fit a 10 s budget
        return real(op, name, args, kw, dev, precision, limit)

    monkeypatch.setattr(cmpmod, "_estimate", estimate)
    cmp = xo.compare(
        xo.matmul, *ab, devices="ref", precisions="fp32,int8", budget=10, min_time=0.01
    )
    assert [m.precision for m in cmp] == ["fp32"]
    ((dev, prec, why),) = cmp.skipped
    assert (dev, prec) == ("ref", "int8")
    assert why.startswith("over the time budget: estimated") and "10 s" in why
    assert "over the time budget" in str(cmp)
    assert "over the time budget" in cmp.to_markdown()
    assert "over the time budget" in cmp._repr_html_()
    data = json.loads(cmp.to_json())
    assert (
        data["budget_s"] == 10
        and "over the time budget" in data["skipped"][0]["reason"]
    )
    recs = cmp.records(include_skipped=True)
    assert [r["not_run"] is None for r in recs] == [True, False]
    assert recs[1]["device"] == "ref" and recs[1]["shape"] == "64x48x32"
    assert len(cmp.records()) == 1  # measured rows only by default


def test_a_spent_budget_runs_nothing_more(ab):
    cmp = xo.compare(xo.matmul, *ab, devices="ref", precisions="fp32,int8", budget=1e-9)
    assert len(cmp) == 0 and len(cmp.skipped) == 2
    assert all("were spent" in why for _, _, why in cmp.skipped)


def test_a_generous_budget_runs_every_row(ab):
    cmp = xo.compare(
        xo.matmul,
        *ab,
        devices="ref",
        precisions="fp32,int8",
        budget=600,
        min_time=0.01,
    )
    assert [m.precision for m in cmp] == ["fp32", "int8"] and not cmp.skipped


def test_the_estimate_extrapolates_the_probe(ab):
    a = np.ones((512, 64), np.float32)
    b = np.ones((64, 64), np.float32)
    dev = xo.api.devices.resolve("ref")
    per_call, plan = cmpmod._estimate(xo.matmul, "matmul", (a, b), {}, dev, "fp32", 60)
    assert 0 < per_call < 10 and plan >= 0
    cut, f = cmpmod._shrink("matmul", (a, b), {})
    assert cut[0].shape == (16, 64) and f == 16 / 512
    # nothing to cut: no estimate
    assert cmpmod._shrink("matmul", (a[:1], b), {}) is None


def test_the_probe_cuts_conv1d_along_positions_or_images():
    x = np.ones((2, 4, 640), np.float32)
    w = np.ones((8, 4, 3), np.float32)
    dev = xo.api.devices.resolve("ref")
    kw = {"padding": 1}
    cut, f = cmpmod._shrink("conv1d", (x, w), kw)
    assert cut[0].shape == (2, 4, 20) and f == 20 / 640
    per_call, plan = cmpmod._estimate(xo.conv1d, "conv1d", (x, w), kw, dev, "fp32", 60)
    assert 0 < per_call < 10 and plan >= 0
    xn = np.ones((64, 640, 4), np.float32)  # NLC with many images: cut those
    cut, f = cmpmod._shrink("conv1d", (xn, w), {"layout": "NLC"})
    assert cut[0].shape == (2, 640, 4) and f == 2 / 64
    cut, f = cmpmod._shrink("conv1d", (xn[:4], w), {"layout": "NLC"})
    assert cut[0].shape == (4, 20, 4)


def test_the_row_cost_counts_warmup_and_repeats():
    assert cmpmod._row_seconds(1.0, 0.5, {"min_time": 0.2}) == 0.5 + 3 + 3
    assert cmpmod._row_seconds(0.01, 0.0, {"min_time": 0.2}) == pytest.approx(
        0.03 + 0.2
    )
    assert cmpmod._row_seconds(1.0, 0.0, {"repeats": 10}) == 3 + 10


@pytest.mark.parametrize("bad", [0, -1, "10", True])
def test_bad_budget(ab, bad):
    with pytest.raises(ValueError, match="budget"):
        xo.compare(xo.matmul, *ab, devices="ref", budget=bad)


def test_progress_on_a_plain_stream_does_not_break(ab):
    cmp = xo.compare(
        xo.matmul,
        *ab,
        devices="ref",
        precisions="fp32",
        progress=True,
        min_time=0.01,
    )
    assert len(cmp) == 1

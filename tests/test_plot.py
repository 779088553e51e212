"""The pictures (issue 15): legends outside the data, modeled chips on a
panel of their own, the memory slope clipped, linear axes under a decade,
distinct bar labels, and figures that show themselves in Jupyter."""

import numpy as np
import pytest
import xpuops as xo
from xpuops.measuring import plot


@pytest.fixture(scope="module")
def cmp():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((32, 64)).astype(np.float32)
    b = rng.standard_normal((64, 16)).astype(np.float32)
    devs = ["ref"] + [d.name for d in xo.devices() if d.simulated][:2]
    return xo.compare(
        xo.matmul,
        a,
        b,
        devices=devs,
        precisions="fp32,int8",
        repeats=3,
        peers=[xo.Peer(lambda: a @ b, "fp32", "numpy")],
    )


def test_modeled_chips_have_their_own_panel(cmp):
    fig = cmp.plot(bandwidth=20e9)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 3 and "MODELED" in titles[2]
    roof, bars, modeled = fig.axes
    modeled_names = {m.device.split(":")[-1] for m in cmp if m.source == "modeled"}
    assert {t.get_text() for t in modeled.get_yticklabels()} == modeled_names
    # nothing modeled on this machine's roofline or bars
    labels = [t.get_text() for t in bars.get_yticklabels()]
    assert not any("npusim" in label for label in labels)
    assert "numpy fp32" in labels  # the peer is measured here


def test_memory_slope_stops_at_the_highest_roof(cmp):
    fig = cmp.plot(bandwidth=20e9)
    roof = fig.axes[0]
    peaks = [m.peak.ops_per_s for m in cmp if m.peak and m.source == "measured"]
    (memory,) = [ln for ln in roof.get_lines() if ln.get_label().startswith("memory")]
    assert max(memory.get_ydata()) <= max(peaks) * 1.0001


def test_legends_sit_outside_the_data(cmp):
    fig = cmp.plot(bandwidth=20e9)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None
        box, data = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.y1 <= data.y0 + 1, ax.get_title()  # below the axes


def test_a_range_under_a_decade_gets_a_linear_axis():
    fig = plot.figure()
    ax = fig.subplots()
    plot._scale(ax, "x", [2e9, 5e9])
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0
    plot._scale(ax, "x", [2e9, 5e10])
    assert ax.get_xscale() == "log"


def test_bar_labels_are_distinct():
    class M:
        def __init__(self, shape, cache="hot", settings=""):
            self.device, self.precision = "onednn", "fp32"
            self.shape, self.cache, self.settings = shape, cache, settings

    labels = plot._labels([M("1x1024x1024", "cold"), M("512x1024x1024")])
    assert labels == ["onednn fp32 1x1024x1024 cold", "onednn fp32 512x1024x1024"]
    same = plot._labels([M("8x8x8"), M("8x8x8")])
    assert len(set(same)) == 2
    assert plot._labels([M("8x8x8")]) == ["onednn fp32"]


def test_many_devices_get_distinct_markers():
    assert len(set(plot._MARKERS)) >= 10


def test_figures_show_themselves_in_jupyter(cmp):
    fig = cmp.plot(bandwidth=20e9)
    png = fig._repr_png_()
    assert png[:4] == b"\x89PNG"

"""What a notebook shows (issue 15): results render as text or HTML, never
as dataclass dumps; the progress bar knows where it runs."""

import numpy as np
import xpuops as xo
from xpuops import chips
from xpuops.measuring.progress import Progress, in_jupyter


def test_chip_results_show_as_their_text():
    for result in (
        chips.compare("Snapdragon X2 Elite", "RTX 5090"),
        chips.platform_tops("Core Ultra 200V"),
        chips.decode_bound("Snapdragon X Elite", params=7e9, precision="int4"),
    ):
        assert repr(result) == str(result)
        assert "(" not in repr(result).split("\n")[0][:12]  # no "ClassName("
        assert result._repr_html_().startswith("<pre>")


def test_measurement_and_comparison_render_html_and_markdown():
    a = np.ones((16, 16), np.float32)
    m = xo.measure(xo.matmul, a, a, device="ref", repeats=3)
    page = m._repr_html_()
    assert "<table>" in page and "FP32" in page and "matmul 16x16x16" in page
    cmp = xo.compare(
        xo.matmul, a, a, devices="ref,openblas", precisions="int8", repeats=3
    )
    assert "INT8" in cmp._repr_html_() and "Not run" in cmp._repr_html_()
    md = cmp._repr_markdown_()
    assert md.startswith("| op |") and "openblas does not run int8" in md


def test_progress_outside_jupyter_is_a_terminal_bar():
    assert not in_jupyter()
    bar = Progress(2, "test")
    bar.step("one")
    bar.advance()
    bar.advance()
    bar.close("done")
    assert bar.done == 2 and bar._rich is not None and bar._display is None

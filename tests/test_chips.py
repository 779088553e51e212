"""The chip database and the helpers that teach with it."""

import pytest
import xpuops as xo
from xpuops import chips


def test_ratings_as_data():
    c = chips.get("RTX 5090")
    assert (c.value, c.unit, c.precision, c.sparse) == (3352, "AI TOPS", "fp4", True)
    assert c.throughput.source == "rated" and c.bandwidth == 1790
    assert chips.get("snapdragon x elite").value == 45
    with pytest.raises(KeyError, match="known chips"):
        chips.get("Pentium")
    with pytest.raises(KeyError, match="more than one"):
        chips.get("Snapdragon")
    with pytest.raises(ValueError, match="no figure"):
        _ = chips.get("Apple M5").throughput


def test_compare_refuses_unlike_figures_and_states_assumptions():
    cmp = chips.compare("Snapdragon X2 Elite", "RTX 5090")
    assert not cmp.comparable and len(cmp.assumptions) == 2
    assert cmp.ratio == pytest.approx(3352 / 2 / 2 / 80)
    text = str(cmp)
    assert "not comparable" in text and "2:4" in text and "assumed" in text
    with pytest.raises(TypeError):
        _ = cmp.b_figure / cmp.a_figure  # the raw division stays refused


def test_compare_like_figures_divides_directly():
    cmp = chips.compare("Snapdragon X Elite", "Snapdragon X2 Elite")
    assert cmp.comparable and cmp.ratio == pytest.approx(80 / 45)


def test_platform_tops_shows_the_parts():
    p = chips.platform_tops("Core Ultra 200V")
    assert p.total == 120 and dict(p.parts) == {"GPU": 67, "NPU": 48, "CPU": 5}
    assert "NPU alone is 48" in str(p)
    with pytest.raises(ValueError, match="not as a platform sum"):
        chips.platform_tops("RTX 5090")


def test_decode_bound():
    d = chips.decode_bound("Snapdragon X Elite", params=7e9, precision="int4")
    assert d.tokens_per_s == pytest.approx(135e9 / 3.5e9)
    assert "whatever the TOPS" in str(d)


def test_this_machine_sits_in_the_table():
    dev = next(d for d in xo.devices() if d.name == "ref")
    d = chips.decode_bound(dev, params=1e9, precision="int8")
    assert d.bandwidth > 0 and "measured" in d.who
    cmp = chips.compare("Snapdragon X Elite", dev)
    assert cmp.b_figure.source == "measured" and cmp.b_figure.precision == "int8"
    assert cmp.comparable  # both int8, both dense
    assert "ref on this machine" in chips.table(dev)

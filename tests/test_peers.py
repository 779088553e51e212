"""Any callable with its work declared shares a table with xpuops' ops
(issue 15): NumPy (or PyTorch) rows timed the same way."""

import json

import numpy as np
import pytest
import xpuops as xo


@pytest.fixture
def ab():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 96)).astype(np.float32)
    b = rng.standard_normal((96, 32)).astype(np.float32)
    return a, b


def test_measure_times_a_callable_with_declared_work(ab):
    a, b = ab
    calls = []

    def numpy_matmul():
        calls.append(1)
        return a @ b

    m = xo.measure(
        numpy_matmul,
        ops=2 * 64 * 96 * 32,
        precision="float32",
        label="numpy",
        repeats=5,
    )
    assert m.device == "numpy" and m.backend == "peer" and m.precision == "fp32"
    assert len(m.wall_s) == 5 and len(calls) == 1 + 1 + 5  # first, warm-up, repeats
    assert m.throughput.ops_per_s == pytest.approx(2 * 64 * 96 * 32 / min(m.wall_s))
    assert m.throughput.unit == "TFLOPS" and m.peak is None and m.errors is None
    assert "numpy (fp32, your callable)" in str(m)
    assert "your own callable" in m.explain()


def test_measure_of_a_callable_checks_its_declaration(ab):
    a, b = ab
    with pytest.raises(TypeError, match="op must be"):
        xo.measure(lambda: a @ b, precision="fp32")  # no ops=
    with pytest.raises(ValueError, match="positive, finite"):
        xo.measure(lambda: a @ b, ops=-1, precision="fp32", label="numpy")
    with pytest.raises(ValueError, match="did you mean 'int8'"):
        xo.measure(lambda: a @ b, ops=1, precision="imt8", label="numpy")
    with pytest.raises(TypeError, match="counts its own"):
        xo.measure(xo.matmul, a, b, ops=5)


def test_integer_peer_is_counted_in_tops(ab):
    a, b = ab
    qa, qb = a.astype(np.int8), b.astype(np.int8)
    m = xo.measure(
        lambda: qa.astype(np.int32) @ qb.astype(np.int32),
        ops=2 * 64 * 96 * 32,
        precision="INT8",
        label="numpy int32",
        repeats=3,
    )
    assert m.throughput.unit == "TOPS" and "INT8" in str(m.throughput)


def test_compare_puts_peers_in_the_same_table(ab, tmp_path):
    a, b = ab
    cmp = xo.compare(
        xo.matmul,
        a,
        b,
        devices="ref",
        precisions="fp32",
        min_time=0.01,
        peers=[
            xo.Peer(lambda: a @ b, "fp32", "numpy"),
            xo.Peer(lambda: (a @ b) * 0.5, "fp32", "wrong"),  # a wrong answer
        ],
    )
    rows = {m.device: m for m in cmp}
    assert set(rows) == {"ref", "numpy", "wrong"}
    ref, numpy, wrong = rows["ref"], rows["numpy"], rows["wrong"]
    assert numpy.ops == ref.ops and numpy.op == "matmul" and numpy.shape == ref.shape
    # the peers are checked against the same fp64 answer
    assert numpy.errors["sqnr_db"] > 100 and wrong.errors["sqnr_db"] < 10
    assert numpy.bytes == a.nbytes + b.nbytes + 64 * 32 * 4
    table = str(cmp)
    assert "numpy" in table and "peer" in table
    recs = json.loads(cmp.to_json())["records"]
    assert {r["device"] for r in recs} == {"ref", "numpy", "wrong"}
    fig = cmp.plot(tmp_path / "p.png", bandwidth=20e9)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG" and fig is not None


def test_compare_takes_a_measurement_made_before(ab):
    a, b = ab
    m = xo.measure(
        lambda: a @ b, ops=2 * 64 * 96 * 32, precision="fp32", label="numpy", repeats=3
    )
    cmp = xo.compare(
        xo.matmul, a, b, devices="ref", precisions="fp32", min_time=0.01, peers=m
    )
    assert [r.device for r in cmp] == ["ref", "numpy"]


def test_compare_rejects_a_bare_callable_as_peer(ab):
    a, b = ab
    with pytest.raises(TypeError, match="xpuops.Peer"):
        xo.compare(
            xo.matmul,
            a,
            b,
            devices="ref",
            precisions="fp32",
            min_time=0.01,
            peers=[lambda: a @ b],
        )

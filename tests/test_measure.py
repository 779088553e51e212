"""measure(), compare() and what they report."""

import json

import numpy as np
import pytest
import xpuops as xo
from xpuops.measuring.compare import MACHINE_FIELDS, RECORD_FIELDS


@pytest.fixture(scope="module")
def ab():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((64, 96)).astype(np.float32),
        rng.standard_normal((96, 48)).astype(np.float32),
    )


def test_measure_counts_times_and_accuracy(ab):
    a, b = ab
    m = xo.measure(xo.matmul, a, b, device="ref", precision="int8", repeats=4)
    assert m.ops == 2 * 64 * 96 * 48 and len(m.kernel_s) == 4
    assert m.throughput.ops_per_s == pytest.approx(m.ops / min(m.kernel_s))
    assert m.throughput.unit == "TOPS" and m.throughput.source == "measured"
    assert m.bytes == 64 * 96 + 96 * 48 + 64 * 48 * 4
    assert m.intensity == pytest.approx(m.ops / m.bytes)
    assert 30 < m.errors["sqnr_db"] < 45  # int8 on normal data
    assert m.impl.startswith("ref:matmul_int8") and m.support == "native"
    assert m.wall_median_s >= m.kernel_median_s > 0
    assert "INT8" in str(m)


def test_explain_says_memory_or_compute_bound(ab):
    a, b = ab
    gemv = xo.measure(xo.matmul, a[:1], b, device="ref", precision="fp32", repeats=3)
    gemm = xo.measure(xo.matmul, a, b, device="ref", precision="fp32", repeats=3)
    # a fixed bandwidth makes the verdict independent of this machine
    assert "Memory-bound" in gemv.explain(bandwidth=10e9)
    assert "Compute-bound" in gemm.explain(bandwidth=1e15)
    assert "Theoretical peak" in gemm.explain(bandwidth=1e15)  # ref: a CPU


def test_explain_names_quantization_cost_and_emulation(ab):
    a, b = ab
    m = xo.measure(xo.matmul, a, b, device="ref", precision="int4", repeats=3)
    text = m.explain(bandwidth=1e15)
    assert "no native int4" in text
    assert "SQNR" in text
    qm = xo.measure(
        xo.matmul,
        xo.quantize(a),
        xo.quantize(b, "int4", axis=1),
        device="ref",
        repeats=3,
    )
    assert qm.quantized_inputs and "dequantized inputs" in qm.explain(bandwidth=1e15)


def test_measure_conv_and_attention_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    m = xo.measure(
        xo.conv2d, x, w, device="ref", precision="fp32", padding="same", repeats=2
    )
    assert m.errors["sqnr_db"] > 110
    xn = x.transpose(0, 2, 3, 1).copy()
    m = xo.measure(
        xo.conv2d,
        xn,
        w,
        device="ref",
        precision="bf16",
        stride=2,
        padding=1,
        layout="NHWC",
        repeats=2,
    )
    assert 40 < m.errors["sqnr_db"] < 70
    q = rng.standard_normal((1, 2, 8, 16)).astype(np.float32)
    m = xo.measure(
        xo.attention, q, q, q, device="ref", precision="fp32", causal=True, repeats=2
    )
    assert m.errors["sqnr_db"] > 110


def test_measure_rejects_other_callables(ab):
    with pytest.raises(TypeError, match="op must be"):
        xo.measure(np.matmul, *ab)


def test_compare_records_schema(ab, tmp_path):
    a, b = ab
    cmp = xo.compare(
        xo.matmul,
        a,
        b,
        devices=["ref", "openblas"],
        precisions=["fp32", "int8"],
        repeats=2,
    )
    assert [(m.device, m.precision) for m in cmp] == [
        ("ref", "fp32"),
        ("ref", "int8"),
        ("openblas", "fp32"),
    ]
    assert cmp.skipped[0][:2] == ("openblas", "int8")
    for r in cmp.records():
        assert set(r) == set(RECORD_FIELDS) | set(MACHINE_FIELDS)
        assert r["unit"] == ("TOPS" if r["precision"] == "int8" else "TFLOPS")
        assert r["fallback"] is None and r["throughput"] > 0
        assert r["machine_cpu"] and "ref:" in r["machine_libraries"]
    data = json.loads(cmp.to_json(tmp_path / "c.json"))
    assert len(data["records"]) == 3 and data["skipped"][0]["device"] == "openblas"
    df = cmp.to_pandas()
    assert list(df["precision"]) == ["fp32", "int8", "fp32"]
    assert "<table>" in cmp._repr_html_() and "openblas" in str(cmp)
    fig = cmp.plot(tmp_path / "roof.png", bandwidth=20e9)
    assert (tmp_path / "roof.png").read_bytes()[:4] == b"\x89PNG"
    assert len(fig.axes) == 2


def test_compare_validates_precisions(ab):
    with pytest.raises(ValueError, match="unknown precision .fp12"):
        xo.compare(xo.matmul, *ab, precisions=["fp12"])

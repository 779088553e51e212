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


def test_reference_conv1d_is_conv2d_with_h1():
    """The fp64 twin of conv1d (written as 1-D taps) equals the conv2d twin
    of the same problem with H = 1, for strides, dilations, groups, padding."""
    from xpuops import reference

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 23))
    w = rng.standard_normal((4, 3, 5))
    bias = rng.standard_normal(4)
    for stride, dil, pad in ((1, 1, (0, 0)), (2, 3, (2, 1)), (3, 2, (4, 4))):
        got = reference.conv1d(x, w, bias, stride, pad, dil, groups=2)
        want = reference.conv2d(
            x[:, :, None, :],
            w[:, :, None, :],
            bias,
            stride=(1, stride),
            pad=((0, 0), pad),
            dilation=(1, dil),
            groups=2,
        )[:, :, 0, :]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)


def test_measure_and_compare_conv1d():
    """conv1d is an op of its own for measure() and compare(): its fp64
    reference, its label, its operations counted as conv2d with H = 1."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 37)).astype(np.float32)
    w = rng.standard_normal((8, 3, 5)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    m = xo.measure(
        xo.conv1d,
        x,
        w,
        bias,
        device="ref",
        precision="fp32",
        padding="same",
        groups=2,
        repeats=2,
    )
    assert m.op == "conv1d" and m.shape == "2x6x37 8x3x5 8"
    assert m.settings == "padding same, groups 2"
    assert m.errors["sqnr_db"] > 110
    # 2 per MAC: N * OC * OL * (C / groups) * KL
    assert m.ops == 2 * 2 * 8 * 37 * 3 * 5
    m2 = xo.measure(
        xo.conv2d,
        x[:, :, None, :],
        w[:, :, None, :],
        bias,
        device="ref",
        precision="fp32",
        padding=(0, 2),
        groups=2,
        repeats=2,
    )
    assert m2.ops == m.ops
    # NLC, strided and dilated, bf16: the reference follows the layout
    xn = x.transpose(0, 2, 1).copy()
    m = xo.measure(
        xo.conv1d,
        xn,
        w,
        device="ref",
        precision="bf16",
        stride=2,
        dilation=2,
        padding=3,
        groups=2,
        layout="NLC",
        repeats=2,
    )
    assert m.settings == "stride 2, padding 3, dilation 2, groups 2, NLC"
    assert 40 < m.errors["sqnr_db"] < 70
    cmp = xo.compare(
        xo.conv1d,
        x,
        w,
        devices=["ref"],
        precisions=["fp32", "int8"],
        padding=1,
        groups=2,
        repeats=2,
        budget=60,
    )
    rows = list(cmp)
    assert [(r.op, r.precision) for r in rows] == [
        ("conv1d", "fp32"),
        ("conv1d", "int8"),
    ]
    assert rows[0].errors["sqnr_db"] > 110
    assert 25 < rows[1].errors["sqnr_db"] < 60
    assert all(r["op"] == "conv1d" for r in cmp.records())


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

"""Throughput: a rate bound to its precision and unit."""

import pytest
from xpuops import Throughput


def test_units_follow_the_precision():
    assert str(Throughput(9.1e12, "int8")) == "9.1 INT8 TOPS"
    assert str(Throughput(0.21e12, "fp32")) == "210 FP32 GFLOPS"
    assert str(Throughput(2.5e9, "int4")) == "2.5 INT4 GOPS"
    assert str(Throughput(3e6, "bf16")) == "3 BF16 MFLOPS"
    assert Throughput(1e12, "int8").unit == "TOPS"
    assert Throughput(1e12, "fp8").unit == "TFLOPS"


def test_different_precisions_refuse_to_compare():
    i8, f32 = Throughput(9e12, "int8"), Throughput(1e12, "fp32")
    with pytest.raises(TypeError, match="count different operations"):
        _ = i8 > f32
    with pytest.raises(TypeError, match="not comparable without an assumption"):
        _ = i8 / f32
    assert Throughput(2e12, "int8") / Throughput(1e12, "int8") == 2
    assert Throughput(2e12, "int8") > Throughput(1e12, "int8")


def test_explicit_normalisation_is_labelled_assumed():
    fp4 = Throughput(3352e12, "fp4", "rated")
    n = fp4.normalized("int8")
    assert n.precision == "int8" and n.ops_per_s == pytest.approx(1676e12)
    assert "(assumed)" in str(n) and n.detail.startswith("ASSUMED")
    with pytest.raises(ValueError, match="only normalisation"):
        fp4.normalized("int8", assume="whatever")


def test_bad_source_and_precision():
    with pytest.raises(ValueError, match="source"):
        Throughput(1.0, "fp32", "guessed")
    with pytest.raises(ValueError, match="unknown precision"):
        Throughput(1.0, "int2")

"""Precision and device names as users type them (issue 15): case, common
spellings, a single string where a list is expected, and "did you mean"."""

import ml_dtypes
import numpy as np
import pytest
import xpuops as xo
from xpuops.api.devices import canonical_name, resolve
from xpuops.api.precision import check_precision, check_precisions


@pytest.mark.parametrize(
    "spelled, name",
    [
        ("INT8", "int8"),
        ("int8", "int8"),
        ("Int4", "int4"),
        ("bfloat16", "bf16"),
        ("BF16", "bf16"),
        ("float32", "fp32"),
        ("FP32", "fp32"),
        ("float16", "fp16"),
        ("half", "fp16"),
        ("float64", "fp64"),
        ("float8_e4m3fn", "fp8"),
        (np.float32, "fp32"),
        (np.dtype(np.float16), "fp16"),
        (ml_dtypes.bfloat16, "bf16"),
    ],
)
def test_precision_spellings(spelled, name):
    assert check_precision(spelled) == name


@pytest.mark.parametrize(
    "typo, near", [("in8", "int8"), ("fp31", "fp32"), ("bfloat61", "bf16")]
)
def test_unknown_precision_says_did_you_mean(typo, near):
    with pytest.raises(ValueError, match=f"did you mean '{near}'"):
        check_precision(typo)


def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid precisions are fp64") as e:
        check_precision("quux")
    assert "did you mean" not in str(e.value)


def test_a_single_precision_string_is_one_item():
    assert check_precisions("int8") == ["int8"]
    assert check_precisions("fp32,INT8") == ["fp32", "int8"]
    assert check_precisions(["FP32", "float32", "int8"]) == ["fp32", "int8"]
    assert check_precisions(None) is None


def test_throughput_stores_the_canonical_precision():
    t = xo.Throughput(2e12, "INT8")
    assert t.precision == "int8" and str(t) == "2 INT8 TOPS"
    assert t > xo.Throughput(1e12, "int8")


def _available(backend):
    return [d for d in xo.devices() if d.backend == backend and d.available]


def test_device_names_are_case_insensitive():
    assert canonical_name("CPU") == "cpu"
    assert canonical_name("Ref") == "ref"
    assert resolve("REF").name == "ref"
    ov = [d.name for d in xo.devices() if d.backend == "openvino"]
    for name in ov:
        assert canonical_name(name.lower()) == name
        assert canonical_name(name.upper()) == name


def test_npusim_chip_names_accept_spaces():
    sims = [d.name for d in xo.devices() if d.name.startswith("npusim:")]
    for name in sims:
        spaced = name.replace("-", " ").title()
        assert canonical_name(spaced) == name


def test_a_bare_backend_is_its_first_device():
    for backend in ("opencl", "openvino"):
        devs = [d for d in xo.devices() if d.backend == backend]
        if not devs:
            continue
        first = next((d for d in devs if d.available), devs[0])
        assert canonical_name(backend) == first.name
        assert canonical_name(backend.upper()) == first.name


def test_ops_take_the_spellings_users_type():
    a = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    y = xo.matmul(a, b, device="REF", precision="INT8")
    np.testing.assert_array_equal(y, xo.matmul(a, b, device="ref", precision="int8"))
    assert xo.last_info()["impl"].startswith("ref")
    y = xo.matmul(a, b, device="Ref", precision="float64")
    assert y.dtype == np.float64


@pytest.mark.parametrize(
    "typo, near", [("onedn", "onednn"), ("REFF", "ref"), ("cuda", "gpu")]
)
def test_unknown_device_says_did_you_mean(typo, near):
    with pytest.raises(ValueError, match=f"did you mean '{near}'") as e:
        resolve(typo)
    assert "valid devices are cpu, gpu, npu" in str(e.value)


def test_compare_takes_single_strings():
    a = np.ones((8, 8), np.float32)
    cmp = xo.compare(xo.matmul, a, a, devices="REF", precisions="INT8", min_time=0.001)
    assert [(m.device, m.precision) for m in cmp] == [("ref", "int8")]
    cmp = xo.compare(
        xo.matmul, a, a, devices="ref", precisions="float32,int8", min_time=0.001
    )
    assert [m.precision for m in cmp] == ["fp32", "int8"]


def test_compare_names_a_bad_precision_in_a_list():
    a = np.ones((8, 8), np.float32)
    with pytest.raises(ValueError, match="did you mean 'int8'"):
        xo.compare(xo.matmul, a, a, devices="ref", precisions=["fp32", "imt8"])

"""Bad input gets a clear exception that names the argument and the fix:
never a crash, never a wrong answer."""

import numpy as np
import pytest
import subproc
import xpuops as xo

F = np.float32


def ones(*shape):
    return np.ones(shape, F)


def test_mismatched_matmul_shapes_name_both():
    with pytest.raises(ValueError, match=r"a\(4, 5\).*b\(6, 3\)"):
        xo.matmul(ones(4, 5), ones(6, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        xo.matmul(ones(2, 4, 5), ones(3, 5, 6))


def test_wrong_ranks():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        xo.matmul(np.float32(2), ones(3))
    with pytest.raises(ValueError, match="x must be 4-d"):
        xo.conv2d(ones(3, 8, 8), ones(2, 3, 3, 3))
    with pytest.raises(ValueError, match="w must be 4-d"):
        xo.conv2d(ones(1, 3, 8, 8), ones(2, 3, 3))
    with pytest.raises(ValueError, match="q must be 4-d"):
        xo.attention(ones(2, 3, 4), ones(1, 2, 3, 4), ones(1, 2, 3, 4))


def test_unknown_device_and_precision_list_valid_ones():
    with pytest.raises(ValueError, match="valid devices are cpu, gpu, npu, ref"):
        xo.matmul(ones(2, 2), ones(2, 2), device="tpu")
    with pytest.raises(ValueError, match="valid precisions are fp64, fp32, bf16"):
        xo.matmul(ones(2, 2), ones(2, 2), precision="int2")
    with pytest.raises(TypeError, match="device must be a string"):
        xo.matmul(ones(2, 2), ones(2, 2), device=0)


def test_unavailable_device_says_why():
    # make a backend absent (OpenVINO's library path points nowhere) in a
    # fresh process: its devices are listed unavailable, and calling one
    # raises DeviceUnavailableError with the reason
    code = (
        "import numpy as np, xpuops as xo\n"
        "d = {d.name: d for d in xo.devices()}['openvino']\n"
        "assert not d.available and 'cannot load OpenVINO' in d.reason, d\n"
        "try:\n"
        "    xo.matmul(np.ones((2, 2)), np.ones((2, 2)), device='openvino')\n"
        "except xo.DeviceUnavailableError as e:\n"
        "    assert d.reason[:20] in str(e), e\n"
        "    print('raised:', e)\n"
    )
    env_extra = {"XPUOPS_OPENVINO_LIB": "/nonexistent/libopenvino_c.so"}
    r = subproc.python(code, **env_extra)
    assert r.returncode == 0, r.stderr
    assert "raised: device 'openvino' is not available" in r.stdout


def test_alias_with_no_such_device_names_alternatives():
    kinds = {d.kind for d in xo.devices() if d.available and not d.simulated}
    for alias in ("gpu", "npu"):
        if alias in kinds:
            continue
        with pytest.raises(xo.DeviceUnavailableError, match="available devices: .*ref"):
            xo.matmul(ones(2, 2), ones(2, 2), device=alias)


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3", "datetime64[s]"])
def test_unsupported_dtypes_raise_type_error(dtype):
    a = np.ones((2, 2)).astype(dtype)
    with pytest.raises(TypeError, match="a "):
        xo.matmul(a, ones(2, 2))
    with pytest.raises(TypeError):
        xo.conv2d(np.ones((1, 1, 3, 3)).astype(dtype), ones(1, 1, 1, 1))
    with pytest.raises(TypeError):
        xo.attention(
            np.ones((1, 1, 2, 2)).astype(dtype), ones(1, 1, 2, 2), ones(1, 1, 2, 2)
        )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("op", ["matmul", "conv2d", "attention"])
def test_non_finite_with_int8_raises(bad, op):
    x = ones(1, 2, 4, 4)
    x[0, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="finite"):
        if op == "matmul":
            xo.matmul(x.reshape(8, 4), ones(4, 3), precision="int8")
        elif op == "conv2d":
            xo.conv2d(x, ones(3, 2, 1, 1), precision="int8")
        else:
            xo.attention(x, ones(1, 2, 4, 4), ones(1, 2, 4, 4), precision="int8")


def test_k_that_could_overflow_s32_is_refused():
    # |acc| <= K * 127 * 127 must fit 2^31 - 1: K = 133145 is one too many
    k = (2**31 - 1) // (127 * 127) + 1
    with pytest.raises(ValueError, match="limit is 133144"):
        xo.matmul(ones(1, k), ones(k, 1), precision="int8")
    y = xo.matmul(ones(1, k - 1), ones(k - 1, 1), precision="int8")
    assert y[0, 0] == k - 1  # the largest safe K still computes exactly
    with pytest.raises(ValueError, match="Lk"):
        xo.attention(
            ones(1, 1, 1, 2),
            ones(1, 1, 70000, 2),
            ones(1, 1, 70000, 2),
            precision="int8",
        )


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(stride=0), "stride must be >= 1"),
        (dict(stride=-1), "stride must be >= 1"),
        (dict(dilation=0), "dilation must be >= 1"),
        (dict(dilation=(1, -2)), "dilation must be >= 1"),
        (dict(padding=-1), "padding must be >= 0"),
        (dict(padding="full"), "padding must be"),
        (dict(padding="same", stride=2), "same' needs stride=1"),
        (dict(groups=0), "groups=0"),
        (dict(groups=3), "groups=3"),
        (dict(layout="CHWN"), "layout must be"),
        (dict(stride=1.5), "stride must be an int"),
    ],
)
def test_bad_conv_arguments(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        xo.conv2d(ones(1, 4, 8, 8), ones(4, 4, 3, 3), **kw)


def test_conv_channel_mismatch_and_kernel_too_large():
    with pytest.raises(ValueError, match="expects 6 input channels"):
        xo.conv2d(ones(1, 4, 8, 8), ones(2, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        xo.conv2d(ones(1, 1, 2, 2), ones(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        xo.conv2d(ones(1, 1, 4, 4), ones(4, 1, 3, 3), ones(3))


def test_attention_head_mismatch():
    with pytest.raises(ValueError, match="H=6 heads, not a multiple of k/v's Hkv=4"):
        xo.attention(ones(1, 6, 3, 8), ones(1, 4, 3, 8), ones(1, 4, 3, 8))
    with pytest.raises(ValueError, match="must agree in B, Hkv and Lk"):
        xo.attention(ones(1, 2, 3, 8), ones(1, 2, 3, 8), ones(1, 2, 4, 8))
    with pytest.raises(ValueError, match="agree in batch"):
        xo.attention(ones(1, 2, 3, 8), ones(1, 2, 3, 4), ones(1, 2, 3, 4))
    with pytest.raises(ValueError, match="scale must be finite"):
        xo.attention(
            ones(1, 2, 3, 8), ones(1, 2, 3, 8), ones(1, 2, 3, 8), scale=float("inf")
        )


def test_attention_int4_is_unsupported_with_reason():
    with pytest.raises(xo.UnsupportedError, match="no int4 scheme"):
        xo.attention(
            ones(1, 1, 2, 2), ones(1, 1, 2, 2), ones(1, 1, 2, 2), precision="int4"
        )


def test_out_dtype_misuse():
    with pytest.raises(ValueError, match="both operands quantized"):
        xo.matmul(ones(2, 2), ones(2, 2), precision="int8", out_dtype=np.int32)
    with pytest.raises(ValueError, match="not produced by precision"):
        xo.matmul(ones(2, 2), ones(2, 2), out_dtype=np.float16)
    qa, qb = (
        xo.quantize(ones(2, 4)),
        xo.quantize(ones(4, 2), "int4", axis=1, group_size=2),
    )
    with pytest.raises(ValueError, match="group-wise"):
        xo.matmul(qa, qb, out_dtype=np.int32)


def test_qtensor_misuse():
    qa = xo.quantize(ones(2, 3))
    with pytest.raises(ValueError, match="dequantize"):
        xo.matmul(qa, ones(3, 2), precision="fp32")
    with pytest.raises(TypeError, match="int8"):
        xo.QTensor(np.ones(3, np.int16), 1.0)
    with pytest.raises(ValueError, match=r"must lie in \[-127, 127\]"):
        xo.QTensor(np.array([[-128, 0]], np.int8), 1.0)  # outside +-127
    per_row = xo.quantize(ones(2, 3), axis=0)
    with pytest.raises(xo.UnsupportedError, match="per tensor"):
        xo.matmul(per_row, ones(3, 2), precision="int8")


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match=">= 1|between 1"):
        xo.set_num_threads(0)
    with pytest.raises(TypeError):
        xo.set_num_threads(2.5)
    old = xo.get_num_threads()
    xo.set_num_threads(3)
    assert xo.get_num_threads() == 3
    xo.set_num_threads(old)


def test_huge_broadcast_operands_fail_cleanly():
    # zero-stride views of 2^60 elements cost no memory; converting them would
    k = 2**60
    a = np.broadcast_to(ones(1, 1), (1, k))
    b = np.broadcast_to(ones(1, 1), (k, 1))
    with pytest.raises(ValueError, match="overflows 64 bits"):
        xo.matmul(a, b, precision="fp64")  # 2^60 x 8 bytes does not fit int64
    with pytest.raises(MemoryError, match="cannot allocate"):
        xo.matmul(a, b, precision="fp32")  # 2^62 bytes: a clean MemoryError


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (
            lambda q: xo.QTensor.from_int(
                q, np.ones((4, 1), np.float32), zero_point=np.int8(0), group_size=32
            ),
            ValueError,
            "group_size needs an axis",
        ),
        (
            lambda q: xo.quantize(
                q.astype(np.float32), axis=1, group_size=0, scale=np.ones(64)
            ),
            ValueError,
            "group_size=0 must be a positive int",
        ),
        (
            lambda q: xo.QTensor.from_int(q, 0.02, axis=1),
            ValueError,
            r"scale has 1 value\(s\); this layout needs shape \(64,\)",
        ),
        (
            lambda q: xo.QTensor.from_int(q, 0.02, zero_point=np.int64(2**32 + 5)),
            ValueError,
            "zero_point values",
        ),
        (
            lambda q: xo.attention(
                *[np.ones((1, 1, 2, 4), np.float32)] * 3, softcap="5"
            ),
            TypeError,
            "softcap must be a number",
        ),
        (
            lambda q: xo.attention(
                *[np.ones((1, 1, 2, 4), np.float32)] * 3, softcap=True
            ),
            TypeError,
            "softcap must be a number",
        ),
        (
            lambda q: xo.attention(*[np.ones((1, 1, 2, 4), np.float32)] * 3, scale=[1]),
            TypeError,
            "scale must be a number",
        ),
    ],
)
def test_quantized_and_attention_arguments_say_what_is_wrong(call, exc, match):
    q = np.zeros((4, 64), np.int8)
    with pytest.raises(exc, match=match):
        call(q)

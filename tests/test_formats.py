"""Float formats and int4 packing: the C core's bit patterns equal NumPy's
(float16) and ml_dtypes' (bfloat16, float8_e4m3fn), specials included."""

import ml_dtypes
import numpy as np
import pytest
from xpuops import _core

TARGET = {
    "f16": (2, np.float16, np.uint16),
    "bf16": (3, ml_dtypes.bfloat16, np.uint16),
    "fp8": (4, ml_dtypes.float8_e4m3fn, np.uint8),
}


def interesting_f32(rng):
    """Every rounding situation: random bit patterns over the whole range,
    exact ties of each format, subnormals, overflow and specials."""
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    ties = []
    for mant_bits in (3, 7, 10):  # fp8, bf16, f16 mantissas
        base = np.float32(1.0) + np.float32(2.0**-mant_bits) * np.arange(8)
        half = np.float32(2.0 ** -(mant_bits + 1))
        for e in (-12, -8, -6, 0, 4, 8, 15):
            ties.append(np.ldexp(base + half, e).astype(np.float32))
    special = np.array(
        [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            np.nan,
            -np.nan,
            448,
            449,
            464,
            465,
            480,
            65504,
            65520,
            3.4e38,
            1e-45,
            2**-10,
            1.5 * 2**-9,
            2**-24,
            2**-25,
            3 * 2**-26,
        ],
        np.float32,
    )
    return np.concatenate([x, *ties, special, -special])


@pytest.mark.parametrize("fmt", list(TARGET))
def test_f32_to_format_matches_library(fmt, rng):
    code, dtype, bits = TARGET[fmt]
    x = interesting_f32(rng)
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # overflow to inf/NaN is the point
        expect = x.astype(dtype).view(bits)
        nan = np.isnan(x.astype(dtype).astype(np.float32))
    got = _core.convert(x, code)
    # NaN payloads may differ in the low bits; sign and NaN-ness may not
    assert np.array_equal(np.isnan(got.view(dtype).astype(np.float32)), nan)
    np.testing.assert_array_equal(got[~nan], expect[~nan])


@pytest.mark.parametrize("fmt", list(TARGET))
def test_f64_to_format_matches_library(fmt, rng):
    code, dtype, bits = TARGET[fmt]
    # values between float32 neighbours expose double rounding
    x = rng.standard_normal(100_000) * np.exp2(rng.integers(-20, 20, 100_000))
    x = np.concatenate(
        [x, 1 + 2.0**-8 + 2.0**-30, 1 + 2.0**-11 + 2.0**-40, 1 + 2.0**-4 + 2.0**-30],
        axis=None,
    )
    with np.errstate(over="ignore", invalid="ignore"):
        expect = x.astype(dtype).view(bits)
    np.testing.assert_array_equal(_core.convert(x, code), expect)


@pytest.mark.parametrize("fmt", list(TARGET))
def test_decode_roundtrip_through_ops(fmt):
    """Every code of the format decodes to the library's value: converting the
    decoded values back must give the same codes."""
    code, dtype, bits = TARGET[fmt]
    all_codes = np.arange(2 ** (8 * np.dtype(bits).itemsize), dtype=np.uint64)
    vals = all_codes.astype(bits).view(dtype)
    ok = ~np.isnan(vals.astype(np.float32))
    got = _core.convert(vals[ok], code)  # decode in C, then encode in C
    np.testing.assert_array_equal(got, vals[ok].view(bits))


def test_strided_and_broadcast_sources(rng):
    x = rng.standard_normal((6, 8))
    for view in (x[::2, ::-3], x.T, np.broadcast_to(x[0], (5, 8)), x[1:1]):
        np.testing.assert_array_equal(_core.convert(view, 1), view.astype(np.float32))


@pytest.mark.parametrize("unsigned", [False, True])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_int4_pack_roundtrip(n, unsigned, rng):
    lo, hi = (0, 15) if unsigned else (-8, 7)
    v = rng.integers(lo, hi + 1, n).astype(np.uint8 if unsigned else np.int8)
    packed = _core.pack_int4(v, unsigned)
    assert packed.shape == ((n + 1) // 2,)
    nib = (v.astype(np.int16) & 0xF).astype(np.uint8)
    if n % 2:
        nib = np.append(nib, 0)
    np.testing.assert_array_equal(packed, nib[0::2] | (nib[1::2] << 4))
    np.testing.assert_array_equal(_core.unpack_int4(packed, n, unsigned), v)


def test_int4_pack_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        _core.pack_int4(np.array([0, 8], np.int8), False)

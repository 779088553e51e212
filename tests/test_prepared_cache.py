"""The core's prepared-weights cache (csrc/core/prep_cache.c): a QTensor's
weights are converted once (int4 packed, unsigned values shifted, scales
checked) and kept under its token. Every result here is compared with the
NumPy twin, so an entry handed to the wrong operand, view or precision, or
freed while in use, shows as a wrong accumulator."""

import textwrap

import numpy as np
import pytest
import subproc
import twin
import xpuops as xo

#: integer devices that take zero points, one per backend
ZP_BACKENDS = ("ref", "onednn", "opencl", "simd", "npusim")


def _devices():
    seen, out = set(), []
    for d in xo.devices():
        if (
            d.available
            and d.backend in ZP_BACKENDS
            and "int8" in d.precisions
            and d.backend not in seen
        ):
            seen.add(d.backend)
            out.append(d.name)
    return out


DEVICES = _devices()


def _weights(rng, k, n, precision, unsigned):
    s = (rng.random(n) * 0.02 + 0.005).astype(np.float32)
    if precision == "int4":
        q = rng.integers(-8, 8, (k, n)).astype(np.int8)
        z = rng.integers(-8, 8, n).astype(np.int32)
        return xo.QTensor.from_int(q, s, z, axis=1, precision="int4")
    if unsigned:  # stored shifted: the cache holds a copy
        q = rng.integers(0, 256, (k, n)).astype(np.uint8)
        z = rng.integers(0, 256, n).astype(np.int32)
    else:
        q = rng.integers(-128, 128, (k, n)).astype(np.int8)
        z = rng.integers(-128, 128, n).astype(np.int32)
    return xo.QTensor.from_int(q, s, z, axis=1)


def _expect(a, b):
    _, za = a._broadcast_params()
    _, zb = b._broadcast_params()
    return twin.matmul_integer(
        a.data.astype(np.int64),
        np.asarray(za, np.int64),
        b.data.astype(np.int64),
        np.asarray(zb, np.int64),
    )


@pytest.mark.parametrize(
    "device,precision,unsigned",
    [
        pytest.param(d.name, p, u, id=f"{d.name}-{p}-{'u8' if u else 's8'}")
        for d in xo.devices()
        if d.available and d.name in DEVICES
        for p, u in (("int8", True), ("int8", False), ("int4", False))
        # only what the device declares (a declared pair that is refused
        # fails tests/test_matrix.py)
        if p in d.precisions
    ],
)
def test_alternating_weights_keep_their_own_form(device, precision, unsigned, rng):
    """Same-shaped QTensors called in turn, twice over: each call gets its
    own operand's prepared form, the second round from the cache."""
    a = xo.QTensor.from_int(
        rng.integers(0, 256, (3, 96)).astype(np.uint8), 0.02, zero_point=np.int32(77)
    )
    bs = [_weights(rng, 96, 40, precision, unsigned) for _ in range(3)]
    for _ in range(2):
        for b in bs:
            got = xo.matmul(a, b, device=device, out_dtype=np.int32)
            np.testing.assert_array_equal(got, _expect(a, b))


@pytest.mark.parametrize("device", DEVICES)
def test_one_qtensor_two_batch_shapes(device, rng):
    """The same weights broadcast against a 2-d and a batched 3-d a: the
    entries of the two calls' views do not mix."""
    b = _weights(rng, 64, 24, "int8", True)
    for shape in [(5, 64), (2, 5, 64), (5, 64)]:
        a = xo.QTensor.from_int(rng.integers(-127, 128, shape).astype(np.int8), 0.01)
        got = xo.matmul(a, b, device=device, out_dtype=np.int32)
        np.testing.assert_array_equal(got, _expect(a, b))


_THREADS = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import xpuops as xo
    sys.path.insert(0, "tests")
    import twin

    rng = np.random.default_rng(5)
    a = xo.QTensor.from_int(rng.integers(0, 256, (4, 512)).astype(np.uint8),
                            0.02, zero_point=np.int32(3))
    bs = []
    for i in range(6):  # ~0.5 MB each as stored: a 1 MB cache evicts
        q = rng.integers(0, 256, (512, 1024)).astype(np.uint8)
        z = rng.integers(0, 256, 1024).astype(np.int32)
        bs.append(xo.QTensor.from_int(q, np.full(1024, 0.01, np.float32), z,
                                      axis=1))
    def want(b):
        _, za = a._broadcast_params()
        _, zb = b._broadcast_params()
        return twin.matmul_integer(a.data.astype(np.int64),
                                   np.asarray(za, np.int64),
                                   b.data.astype(np.int64),
                                   np.asarray(zb, np.int64))
    wants = [want(b) for b in bs]
    def call(i):
        b = bs[i % len(bs)]
        got = xo.matmul(a, b, device=DEVICE, out_dtype=np.int32)
        return np.array_equal(got, wants[i % len(bs)])
    with ThreadPoolExecutor(4) as ex:
        ok = list(ex.map(call, range(96)))
    print("OK" if all(ok) else f"WRONG {ok.count(False)} of {len(ok)}")
    """
)


@pytest.mark.parametrize("limit_mb", ["1", "0"])
def test_threads_share_a_small_cache(limit_mb):
    """Four threads over six weights in a cache that holds about two
    (1 MB; 0 turns it off): entries are evicted while others are in use,
    and every result stays exact."""
    r = subproc.python(
        _THREADS.replace("DEVICE", repr("ref")),
        timeout=300,
        XPUOPS_PREPARED_CACHE_MB=limit_mb,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK", r.stdout + r.stderr

"""attention's arguments of issue 14 (mask, causal alignments, window,
softcap, kv_lengths, Dv != D, int8 QTensor K/V) on every device that runs
them, each precision it declares, against the NumPy twins written from the
definitions (tests/twin.py); devices that cannot run one raise
UnsupportedError naming the devices that can."""

import numpy as np
import pytest
import twin
import xpuops as xo
from bounds import FLOAT, check_attention
from conftest import needs_backend, pairs

#: (backend, argument) pairs refused by design (DESIGN.md, attention
#: arguments x devices); everything else must run. None today: openvino
#: runs softcap through a decomposed graph.
REFUSED = set()


def _case(rng, name):
    """(q, k, v, kwargs) of one named case; odd sizes throughout."""

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    b, h, hkv, lq, lk, d, dv = 2, 4, 2, 7, 11, 16, 16
    kw = {}
    if name == "top-left-lq<lk":
        kw = {"causal": "top-left"}
    elif name == "top-left-lq>lk":
        lq, lk = 13, 5
        kw = {"causal": "top-left"}
    elif name == "bottom-right-lq>lk":  # the first rows see no key
        lq, lk = 13, 5
        kw = {"causal": True}
    elif name == "window-causal":
        lq = lk = 13
        kw = {"causal": True, "window": (3, 0)}
    elif name == "window-diagonal":
        lq = lk = 9
        kw = {"window": (0, 0)}
    elif name == "window-right-only":
        kw = {"window": (-1, 2)}
    elif name == "window-top-left":
        lq, lk = 5, 12
        kw = {"causal": "top-left", "window": (2, -1)}
    elif name == "window-past-the-keys":  # rows i >= 7 start past key 4
        lq, lk = 13, 5
        kw = {"causal": "top-left", "window": (2, 0)}
    elif name == "softcap":
        kw = {"softcap": 1.5, "causal": True}
    elif name == "kv_lengths":  # 0 and Lk among them
        b = 3
        kw = {"kv_lengths": np.array([0, lk, 4])}
    elif name == "mask-bool-bcast":
        m = rng.random((lq, lk)) < 0.6
        m[2] = False  # a row that sees no key
        kw = {"mask": m}
    elif name == "mask-float-bcast":
        m = rng.standard_normal((h, 1, lk)).astype(np.float32)
        m[:, :, ::3] = -np.inf
        kw = {"mask": m}
    elif name == "mask-bool-full":
        m = rng.random((b, h, lq, lk)) < 0.5
        m[1, 3] = False  # a head of a batch sees nothing
        kw = {"mask": m}
    elif name == "mask-float64-batch":
        kw = {"mask": rng.standard_normal((b, 1, 1, lk))}
    elif name == "dv":
        dv = 5
    elif name == "everything":
        b, dv = 3, 9
        m = rng.random((b, 1, lq, lk)) < 0.8
        kw = {
            "causal": "top-left",
            "window": (4, 1),
            "softcap": 2.0,
            "kv_lengths": np.array([lk, 6, 0]),
            "mask": m,
        }
    else:
        raise AssertionError(name)
    return normal(b, h, lq, d), normal(b, hkv, lk, d), normal(b, hkv, lk, dv), kw


CASES = [
    "top-left-lq<lk",
    "top-left-lq>lk",
    "bottom-right-lq>lk",
    "window-causal",
    "window-diagonal",
    "window-right-only",
    "window-top-left",
    "window-past-the-keys",
    "softcap",
    "kv_lengths",
    "mask-bool-bcast",
    "mask-float-bcast",
    "mask-bool-full",
    "mask-float64-batch",
    "dv",
    "everything",
]


def _refused(device, kw):
    backend = device.split(":")[0]
    return [a for a in kw if (backend, a) in REFUSED]


@pytest.mark.parametrize(
    "device,precision",
    pairs(FLOAT + ("int8",), exclude=[("openvino", "int8")]),
)
@pytest.mark.parametrize("case", CASES)
def test_argument(device, precision, case, rng):
    q, k, v, kw = _case(rng, case)
    causal = kw.pop("causal", False)
    refused = _refused(device, kw)
    if refused:
        with pytest.raises(
            xo.UnsupportedError, match="devices that run this attention: ref"
        ):
            xo.attention(
                q, k, v, causal=causal, device=device, precision=precision, **kw
            )
        return
    y = xo.attention(q, k, v, causal=causal, device=device, precision=precision, **kw)
    assert y.shape == q.shape[:3] + (v.shape[3],)
    check_attention(device, precision, q, k, v, causal, y, **kw)
    vis = twin.visibility(
        (q.shape[0], q.shape[2], k.shape[2]),
        causal,
        kw.get("window"),
        kw.get("kv_lengths"),
    )
    # the operations count: 2 (D + Dv) per pair the rules leave (masks not
    # subtracted), every head
    want_ops = 2 * (q.shape[3] + v.shape[3]) * vis.sum() * q.shape[1]
    assert xo.last_info()["ops"] == want_ops
    if precision == "int8":
        y_ref = xo.attention(
            q, k, v, causal=causal, device="ref", precision="int8", **kw
        )
        np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize(
    "device,precision",
    [p for p in pairs(FLOAT) if p.values[0].startswith("openvino")],
)
def test_openvino_softcap_graph(device, precision, rng):
    """openvino runs softcap through its decomposed graph (SDPA has no
    softcap) and says so; without a softcap it keeps the SDPA. The result
    of both is checked against the twins."""
    q, k, v, _ = _case(rng, "dv")
    for kw, graph in (({"softcap": 0.7}, "decomposed graph"), ({}, "ScaledDot")):
        y = xo.attention(q, k, v, device=device, precision=precision, **kw)
        assert graph in xo.last_info()["impl"]
        check_attention(device, precision, q, k, v, False, y, **kw)


def _kv_cache(rng, per_tensor=False):
    q = rng.standard_normal((2, 4, 3, 32)).astype(np.float32)
    k = rng.standard_normal((2, 2, 19, 32)).astype(np.float32)
    v = rng.standard_normal((2, 2, 19, 7)).astype(np.float32)
    kq = xo.quantize(k, "int8", axis=None if per_tensor else 2)
    vq = xo.quantize(v, "int8", axis=None if per_tensor else 3)
    return q, kq, vq


@pytest.mark.parametrize(
    "device,precision", pairs(("int8",), exclude=[("openvino", "int8")])
)
@pytest.mark.parametrize("per_tensor", [False, True], ids=["per-key", "per-tensor"])
@pytest.mark.parametrize(
    "with_args", [False, True], ids=["plain", "kv_lengths+softcap"]
)
def test_int8_kv_cache(device, precision, per_tensor, with_args, rng):
    """int8 QTensor K (per key) and V (per channel): their scales as given,
    K not centred; bit-identical to the twin and to ref."""
    q, kq, vq = _kv_cache(rng, per_tensor)
    kw = {"kv_lengths": np.array([19, 8]), "softcap": 4.0} if with_args else {}
    y = xo.attention(q, kq, vq, device=device, **kw)  # int8 by default
    assert y.shape == (2, 4, 3, 7)
    check_attention(device, "int8", q, kq, vq, False, y, **kw)
    y_ref = xo.attention(q, kq, vq, device="ref", **kw)
    np.testing.assert_array_equal(y, y_ref)
    # mixing: a float v with a quantized k
    v = vq.dequantize()
    y = xo.attention(q, kq, v, device=device, precision="int8", **kw)
    _, want = twin.attention_int8(q, kq, v, **kw)
    np.testing.assert_array_equal(y, want)


def test_int8_kv_cache_refused_by_openvino(rng):
    q, kq, vq = _kv_cache(rng)
    needs_backend("openvino")
    ov = [d.name for d in xo.devices() if d.available and d.backend == "openvino"]
    with pytest.raises(xo.UnsupportedError, match="devices that run.*ref"):
        xo.attention(q, kq, vq, device=ov[0])


def test_broadcast_mask_is_not_materialized(rng):
    """A broadcast mask crosses as its own elements: the bytes a call
    counts are the same for a [Lk] row and its [B, H, Lq, Lk] broadcast
    view, and the results are equal."""
    q = rng.standard_normal((2, 3, 40, 8)).astype(np.float32)
    k = rng.standard_normal((2, 3, 50, 8)).astype(np.float32)
    row = rng.random(50) < 0.7
    y1 = xo.attention(q, k, k, mask=row, device="ref")
    b1 = xo.last_info()["bytes"]
    y2 = xo.attention(q, k, k, mask=np.broadcast_to(row, (2, 3, 40, 50)), device="ref")
    b2 = xo.last_info()["bytes"]
    np.testing.assert_array_equal(y1, y2)
    assert b1 == b2
    y3 = xo.attention(
        q,
        k,
        k,
        mask=np.ascontiguousarray(np.broadcast_to(row, (2, 3, 40, 50))),
        device="ref",
    )
    assert xo.last_info()["bytes"] - b1 == 4 * (2 * 3 * 40 * 50 - 50)
    np.testing.assert_array_equal(y1, y3)


def test_masks_agree(rng):
    """A bool mask equals the float mask of 0 / -inf, and kv_lengths, a
    window and causal equal their masks."""
    q = rng.standard_normal((2, 2, 6, 8)).astype(np.float32)
    k = rng.standard_normal((2, 2, 10, 8)).astype(np.float32)
    n = np.array([7, 3])
    vis = twin.visibility((2, 6, 10), "top-left", (2, 1), n)
    y = xo.attention(
        q,
        k,
        k,
        causal="top-left",
        window=(2, 1),
        kv_lengths=n,
        device="ref",
        precision="fp64",
    )
    yb = xo.attention(q, k, k, mask=vis, device="ref", precision="fp64")
    yf = xo.attention(
        q, k, k, mask=np.where(vis, 0.0, -np.inf), device="ref", precision="fp64"
    )
    np.testing.assert_allclose(y, yb, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(yb, yf)
    # causal=True is window (-1, 0)
    y1 = xo.attention(q, k, k, causal=True, device="ref", precision="fp64")
    y2 = xo.attention(q, k, k, window=(-1, 0), device="ref", precision="fp64")
    np.testing.assert_array_equal(y1, y2)


BAD = [
    ({"causal": "upper"}, ValueError, "causal='upper'; use False, True"),
    ({"window": (-2, 0)}, ValueError, "window left is -2"),
    ({"window": 3}, TypeError, "pass a pair"),
    ({"window": (1.5, 0)}, TypeError, "window left must be an int"),
    ({"softcap": 0}, ValueError, "softcap=0; it must be a finite value > 0"),
    ({"softcap": float("inf")}, ValueError, "softcap"),
    ({"kv_lengths": [1, 2, 3]}, ValueError, r"one length per batch, shape \(2,\)"),
    ({"kv_lengths": [1, 12]}, ValueError, r"kv_lengths must lie in \[0, Lk=11\]"),
    ({"kv_lengths": [1.0, 2.0]}, TypeError, "kv_lengths must hold integers"),
    ({"mask": np.zeros((3, 11), bool)}, ValueError, "does not broadcast to"),
    ({"mask": np.zeros((7, 11), np.int32)}, TypeError, "mask must be bool"),
    ({"mask": np.full((7, 11), np.nan)}, ValueError, "mask element 0 is nan"),
    ({"mask": np.full((7, 11), np.inf)}, ValueError, "finite values or -inf"),
]


@pytest.mark.parametrize("kw,exc,msg", BAD, ids=lambda x: str(x)[:30])
def test_bad_arguments(kw, exc, msg, rng):
    q, k, v, _ = _case(rng, "dv")
    with pytest.raises(exc, match=msg):
        xo.attention(q, k, v, device="ref", **kw)


def test_bad_kv_cache(rng):
    q, k, v, _ = _case(rng, "dv")
    with pytest.raises(
        ValueError, match=r"k must be quantized per tensor or per key \(axis 2\)"
    ):
        xo.attention(
            q, xo.quantize(k, "int8", axis=3), v, device="ref", precision="int8"
        )
    with pytest.raises(ValueError, match="zero points"):
        xo.attention(
            q,
            xo.quantize(k, "int8", symmetric=False),
            v,
            device="ref",
            precision="int8",
        )
    with pytest.raises(ValueError, match="cannot run in precision 'fp32'"):
        xo.attention(
            q, xo.quantize(k, "int8", axis=2), v, device="ref", precision="fp32"
        )
    with pytest.raises(TypeError, match="q must be a float array"):
        xo.attention(xo.quantize(q, "int8"), k, v, device="ref")

"""The regression suite: real model shapes on every available device.

    pytest benchmarks/test_suite.py --xpu-save base      # a baseline
    pytest benchmarks/test_suite.py --xpu-compare base   # fails on regressions
    pytest benchmarks/test_suite.py --xpu-quick          # the one-minute subset

Shapes: the GEMMs of a 7B-class decoder (hidden 4096, MLP 11008) at prefill
(M = 512) and decode (M = 1); ResNet-50 and MobileNetV2 convolutions at
batch 1 and 32; transformer attention (L = 512 and 2048, D = 64 and 128,
causal, grouped-query; issue 14: decode over a KV cache with kv_lengths, a
4096-key sliding window at L = 8192, a padded batch with a key mask). The
ref oracle sits out the large shapes; simulated
devices are left to their own tests (their figures are modeled)."""

import zlib

import numpy as np
import pytest
import xpuops as xo
from xpuops.fleet.suite import ATTN, CONVS, LLM  # the shapes, shared with fleets

REAL = [d for d in xo.devices() if d.available and not d.simulated]
FAST = [d.name for d in REAL if d.backend not in ("ref", "opencl")]
PRECISIONS = ["fp32", "bf16", "fp16", "int8", "int4"]


def grid(devices, precisions=PRECISIONS, quick=()):
    """(device, precision) pairs the device runs, marking the quick ones."""
    out = []
    for d in devices:
        dev = next(x for x in REAL if x.name == d)
        for p in precisions:
            if p in dev.precisions:
                marks = [pytest.mark.xpu_quick] if (d, p) in quick else []
                out.append(pytest.param(d, p, marks=marks, id=f"{d}-{p}"))
    return out


QUICK = {("onednn", "fp32"), ("onednn", "int8"), ("openblas", "fp32")}


def operands_for(test_id):
    """Standard-normal float32 operands from a generator seeded by the test's
    id: the same data whichever tests are selected (a shared generator
    handed out other values under -k, and integer fingerprints changed)."""
    rng = np.random.default_rng(zlib.crc32(test_id.encode()))

    def make(*shapes):
        return [rng.standard_normal(s).astype(np.float32) for s in shapes]

    return make


@pytest.fixture
def operands(request):
    return operands_for(request.node.nodeid)


@pytest.mark.parametrize("layer", ["o_proj", "mlp_down"])
@pytest.mark.parametrize("device,precision", grid(FAST, quick=QUICK))
def test_llm_decode(xpu_bench, operands, layer, device, precision):
    k, n = LLM[layer]
    a, w = operands((1, k), (k, n))
    if precision in ("int8", "int4"):  # weights quantized once, as deployed
        w = xo.quantize(w, precision, axis=1)
        a = xo.quantize(a)
    xpu_bench(xo.matmul, a, w, device=device, precision=precision)


@pytest.mark.parametrize("layer", list(LLM))
@pytest.mark.parametrize("device,precision", grid(FAST))
def test_llm_prefill(xpu_bench, operands, layer, device, precision):
    k, n = LLM[layer]
    a, w = operands((512, k), (k, n))
    if precision in ("int8", "int4"):
        w = xo.quantize(w, precision, axis=1)
        a = xo.quantize(a)
    xpu_bench(xo.matmul, a, w, device=device, precision=precision)


SLOW = pytest.mark.xpu_slow  # outside the quick subset


@pytest.mark.parametrize("batch", [1, pytest.param(32, marks=SLOW)])
@pytest.mark.parametrize("layer", list(CONVS))
@pytest.mark.parametrize("device,precision", grid(FAST, quick=QUICK))
def test_conv(xpu_bench, operands, layer, batch, device, precision):
    c, h, oc, k, s, p, g = CONVS[layer]
    x, w = operands((batch, c, h, h), (oc, c // g, k, k))
    if precision in ("int8", "int4"):
        w = xo.quantize(w, precision, axis=0)
    xpu_bench(
        xo.conv2d,
        x,
        w,
        stride=s,
        padding=p,
        groups=g,
        device=device,
        precision=precision,
    )


# openvino expresses no int8 attention graph (it raises UnsupportedError)
ATTN_GRID = [
    p
    for p in grid(FAST, ["fp32", "bf16", "int8"], quick=QUICK)
    if not (p.values[0].startswith("openvino") and p.values[1] == "int8")
]


@pytest.mark.parametrize(
    "shape", [s if s == "L512_D64" else pytest.param(s, marks=SLOW) for s in ATTN]
)
@pytest.mark.parametrize("device,precision", ATTN_GRID)
def test_attention(xpu_bench, operands, shape, device, precision):
    b, h, hkv, length, d, causal = ATTN[shape]
    q, k, v = operands((b, h, length, d), (b, hkv, length, d), (b, hkv, length, d))
    xpu_bench(
        xo.attention,
        q,
        k,
        v,
        causal=causal,
        device=device,
        precision=precision,
        min_time=0.1,
    )


# issue 14: what real models ask of attention. B and H are small enough for
# a 2-core machine to time each in seconds.
ATTN_ARGS = ["fp32", "bf16", "int8"]
ATTN_ARGS_GRID = [
    p
    for p in grid(FAST, ATTN_ARGS)
    if not (p.values[0].startswith("openvino") and p.values[1] == "int8")
]


@pytest.mark.parametrize("device,precision", ATTN_ARGS_GRID)
def test_attention_decode_kv_cache(xpu_bench, operands, device, precision):
    """One decode step of a GQA model (H 32, Hkv 8, D 128) over a KV cache
    of 4096 slots filled to [4096, 3000, 1024, 2500] (kv_lengths); int8
    reads an int8 cache (K per key, V per channel)."""
    q, k, v = operands((4, 32, 1, 128), (4, 8, 4096, 128), (4, 8, 4096, 128))
    if precision == "int8":
        k, v = xo.quantize(k, "int8", axis=2), xo.quantize(v, "int8", axis=3)
    xpu_bench(
        xo.attention,
        q,
        k,
        v,
        kv_lengths=np.array([4096, 3000, 1024, 2500]),
        device=device,
        precision=precision,
        min_time=0.1,
    )


@pytest.mark.parametrize("device,precision", ATTN_ARGS_GRID)
def test_attention_sliding_window(xpu_bench, operands, device, precision):
    """Causal attention with a 4096-key window at L 8192 (Mistral's),
    B 1, H 2, D 64."""
    q, k, v = operands((1, 2, 8192, 64), (1, 2, 8192, 64), (1, 2, 8192, 64))
    xpu_bench(
        xo.attention,
        q,
        k,
        v,
        causal=True,
        window=(4096, 0),
        device=device,
        precision=precision,
        min_time=0.1,
    )


@pytest.mark.parametrize("device,precision", ATTN_ARGS_GRID)
def test_attention_padded_batch(xpu_bench, operands, device, precision):
    """An encoder batch padded to L 512 (lengths 512, 384, 200, 77), a bool
    key-padding mask [B, 1, 1, L] broadcast over heads and queries, H 8, D
    64."""
    q, k, v = operands((4, 8, 512, 64), (4, 8, 512, 64), (4, 8, 512, 64))
    mask = np.arange(512)[None, :] < np.array([512, 384, 200, 77])[:, None]
    xpu_bench(
        xo.attention,
        q,
        k,
        v,
        mask=mask[:, None, None, :],
        device=device,
        precision=precision,
        min_time=0.1,
    )

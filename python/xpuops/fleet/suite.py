"""The benchmark suite as data: the model shapes of benchmarks/test_suite.py
(which imports its tables from here), the cases of the quick and full
subsets, and the grid of (case, device, precision) one machine runs.

Nothing here imports Dask: the suite is plain data a worker expands."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..api.quant import quantize

#: (K, N) of the GEMMs of one transformer block of a 7B-class decoder
LLM = {
    "qkv_proj": (4096, 4096 * 3),
    "o_proj": (4096, 4096),
    "mlp_up": (4096, 11008),
    "mlp_down": (11008, 4096),
}
#: name: (C, H, OC, K, stride, pad, groups) of ResNet-50 / MobileNetV2 convs
CONVS = {
    "resnet50_conv1": (3, 224, 64, 7, 2, 3, 1),
    "resnet50_res3_3x3": (128, 28, 128, 3, 1, 1, 1),
    "resnet50_res4_1x1": (1024, 14, 256, 1, 1, 0, 1),
    "mobilenetv2_dw_3x3": (144, 56, 144, 3, 1, 1, 144),
    "mobilenetv2_pw_1x1": (144, 56, 24, 1, 1, 0, 1),
}
#: (B, H, Hkv, L, D, causal) of transformer attention
ATTN = {
    "L512_D64": (1, 16, 16, 512, 64, True),
    "L2048_D128_causal": (1, 32, 32, 2048, 128, True),
    "L2048_D128_gqa": (1, 32, 8, 2048, 128, False),
}
#: the precisions the suite sweeps (test_suite.PRECISIONS); attention's own
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")
ATTN_PRECISIONS = ("fp32", "bf16", "int8")
#: the quick subset's precisions (those of test_suite.QUICK)
QUICK_PRECISIONS = ("fp32", "int8")
OPS = ("matmul", "conv2d", "attention")


@dataclass(frozen=True)
class Case:
    """One problem of the suite. ``dims``: matmul (M, K, N); conv2d (N, C,
    H, OC, K, stride, pad, groups); attention (B, H, Hkv, L, D, causal).
    ``big``: the ref oracle sits it out (its run would take minutes)."""

    name: str
    op: str
    dims: tuple
    big: bool = False
    precisions: tuple = field(default=PRECISIONS)

    def operand_shapes(self) -> list:
        d = self.dims
        if self.op == "matmul":
            m, k, n = d
            return [(m, k), (k, n)]
        if self.op == "conv2d":
            nb, c, h, oc, k, _s, _p, g = d
            return [(nb, c, h, h), (oc, c // g, k, k)]
        b, h, hkv, length, dd, _c = d
        return [(b, h, length, dd), (b, hkv, length, dd), (b, hkv, length, dd)]

    @property
    def shape(self) -> str:
        """The shape as xo.measure labels it (matmul MxKxN, otherwise the
        operand shapes)."""
        if self.op == "matmul":
            return "x".join(map(str, self.dims))
        return " ".join("x".join(map(str, s)) for s in self.operand_shapes())

    def kwargs(self) -> dict:
        """The op's keywords (stride, padding, groups; causal)."""
        if self.op == "conv2d":
            _n, _c, _h, _oc, _k, s, p, g = self.dims
            return {"stride": s, "padding": p, "groups": g}
        if self.op == "attention":
            return {"causal": bool(self.dims[5])}
        return {}

    def options(self, precision: str) -> str:
        """The key's options: the op's keywords and which operands are
        quantized beforehand, as canonical JSON."""
        opts = dict(self.kwargs())
        if precision in ("int8", "int4") and self.op == "matmul":
            opts["prequantized"] = "a,w"  # as deployed: weights once, a too
        elif precision in ("int8", "int4") and self.op == "conv2d":
            opts["prequantized"] = "w"
        return json.dumps(opts, sort_keys=True)

    def operands(self, precision: str):
        """(args, kwargs) for the op: standard-normal float32 data from a
        generator seeded by the case's name and shape (the same data on every
        machine and device), operands quantized as ``options`` says."""
        rng = np.random.default_rng(zlib.crc32(f"{self.name}|{self.shape}".encode()))
        args = [
            rng.standard_normal(s).astype(np.float32) for s in self.operand_shapes()
        ]
        if precision in ("int8", "int4") and self.op == "matmul":
            args = [quantize(args[0]), quantize(args[1], precision, axis=1)]
        elif precision in ("int8", "int4") and self.op == "conv2d":
            args[1] = quantize(args[1], precision, axis=0)
        return args, self.kwargs()

    def shrunk(self, factor: int) -> Case:
        """The same case with its sizes divided by ``factor`` (a smoke test of
        a fleet; figures of shrunk cases say nothing about the model)."""
        if factor == 1:
            return self

        def f(v):
            return max(1, v // factor)

        d = self.dims
        if self.op == "matmul":
            m, k, n = d
            dims = (f(m), f(k), f(n))
        elif self.op == "conv2d":
            nb, c, h, oc, k, s, p, g = d
            if g == c == oc:  # depthwise stays depthwise
                c2 = oc2 = g2 = f(c)
            else:
                c2, oc2, g2 = f(c), f(oc), 1
            dims = (nb, c2, max(k, f(h)), oc2, k, s, p, g2)
        else:
            b, h, hkv, length, dd, causal = d
            dims = (b, h, hkv, max(8, f(length)), max(8, f(dd)), causal)
        return replace(self, name=f"{self.name}/{factor}", dims=dims, big=False)


def _quick() -> list:
    cases = [
        Case(f"llm_decode.{layer}", "matmul", (1, *LLM[layer]))
        for layer in ("o_proj", "mlp_down")
    ]
    cases += [
        Case(f"conv.{name}.b1", "conv2d", (1, c, h, oc, k, s, p, g))
        for name, (c, h, oc, k, s, p, g) in CONVS.items()
    ]
    b, h, hkv, length, d, causal = ATTN["L512_D64"]
    cases.append(
        Case(
            "attention.L512_D64",
            "attention",
            (b, h, hkv, length, d, causal),
            precisions=ATTN_PRECISIONS,
        )
    )
    return cases


def _full() -> list:
    cases = [c for c in _quick() if c.op == "matmul"]
    cases += [
        Case(f"llm_prefill.{layer}", "matmul", (512, k, n), big=True)
        for layer, (k, n) in LLM.items()
    ]
    for batch in (1, 32):
        cases += [
            Case(
                f"conv.{name}.b{batch}",
                "conv2d",
                (batch, c, h, oc, k, s, p, g),
                big=batch > 1,
            )
            for name, (c, h, oc, k, s, p, g) in CONVS.items()
        ]
    cases += [
        Case(
            f"attention.{name}",
            "attention",
            dims,
            big=dims[3] > 512,
            precisions=ATTN_PRECISIONS,
        )
        for name, dims in ATTN.items()
    ]
    return cases


def _from_file(path) -> list:
    """A suite file: JSON ``{"cases": [{"name", "op", "dims", "big"?,
    "precisions"?}, ...]}`` with dims as Case documents them."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(
            f"suite must be 'quick', 'full' or the path of a suite JSON file; "
            f"{str(path)!r} is none of these"
        )
    data = json.loads(p.read_text())
    out = []
    for i, c in enumerate(data.get("cases", [])):
        if c.get("op") not in OPS:
            raise ValueError(
                f"{p.name}: case {i} has op {c.get('op')!r}; ops: {', '.join(OPS)}"
            )
        want = {"matmul": 3, "conv2d": 8, "attention": 6}[c["op"]]
        dims = tuple(c.get("dims", ()))
        if len(dims) != want:
            raise ValueError(
                f"{p.name}: case {c.get('name', i)!r} ({c['op']}) needs {want} "
                f"dims, got {list(dims)}"
            )
        out.append(
            Case(
                str(c.get("name", f"case{i}")),
                c["op"],
                dims,
                bool(c.get("big", False)),
                tuple(c.get("precisions", PRECISIONS)),
            )
        )
    if not out:
        raise ValueError(f"{p.name} holds no cases")
    return out


def cases(suite="quick", shrink: int = 1) -> list:
    """The cases of ``suite``: "quick" (the decode GEMVs, batch-1 convs and
    short attention of the pytest --xpu-quick subset), "full" (every shape
    of benchmarks/test_suite.py), a path to a suite JSON file, or a list of
    Case. ``shrink`` divides every size (a smoke test of the fleet)."""
    if isinstance(suite, (list, tuple)):
        out = list(suite)
    elif suite == "quick":
        out = _quick()
    elif suite == "full":
        out = _full()
    else:
        out = _from_file(suite)
    if not isinstance(shrink, int) or shrink < 1:
        raise ValueError(f"shrink must be an integer >= 1, got {shrink!r}")
    out = [c.shrunk(shrink) for c in out]
    seen = {}
    for c in out:
        k = (c.op, c.shape, c.kwargs().__repr__())
        if k in seen:
            raise ValueError(
                f"suite cases {seen[k]!r} and {c.name!r} have the same key (op "
                f"{c.op}, shape {c.shape}, options): a table row could not tell "
                "them apart; drop one"
            )
        seen[k] = c.name
    return out


def default_precisions(suite) -> tuple:
    """The precisions a suite sweeps when none are given."""
    return QUICK_PRECISIONS if suite == "quick" else PRECISIONS


def default_devices(available: dict) -> list:
    """The devices a machine measures when none are given: every real device
    but the ref oracle and OpenCL-on-CPU (the suite's own rule; an OpenCL GPU
    is measured). ``available``: name -> {kind, backend, simulated}."""
    return [
        name
        for name, d in available.items()
        if not d["simulated"]
        and d["backend"] != "ref"
        and not (d["backend"] == "opencl" and d["kind"] == "cpu")
    ]

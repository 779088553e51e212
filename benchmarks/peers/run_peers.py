"""xpuops' best device beside other libraries doing the same op, in the same
run, as ratios.

    python benchmarks/peers/run_peers.py

Peers are used only when installed (`pip install xpuops[peers]` adds ONNX
Runtime; NumPy and OpenVINO come with xpuops; PyTorch is the reader's own):
NumPy (fp32, fp64), PyTorch CPU (matmul fp32/bf16, torch._int_mm,
conv2d, scaled_dot_product_attention), ONNX Runtime (MatMul,
MatMulInteger, Conv) and OpenVINO's Python API (MatMul). A missing peer is
listed as such, never silently dropped."""

from __future__ import annotations

import sys
import time

import numpy as np
import xpuops as xo

REPS = 5


def best_time(fn):
    fn()
    t = []
    for _ in range(REPS):
        s = time.perf_counter()
        fn()
        t.append(time.perf_counter() - s)
    return min(t)


def xpuops_best(op, args, precision, **kw):
    """The fastest real device for op in precision: (device, Throughput)."""
    devs = [
        d.name
        for d in xo.devices()
        if d.available
        and not d.simulated
        and precision in d.precisions
        and d.backend not in ("ref", "opencl")
    ]
    cmp = xo.compare(
        op,
        *args,
        devices=devs,
        precisions=[precision],
        accuracy=False,
        min_time=0.2,
        **kw,
    )
    m = max(cmp, key=lambda m: m.throughput.ops_per_s)
    return m.device, m.throughput


def peers_matmul(a, b, precision):
    out = {}
    if precision in ("fp32", "fp64"):
        aa, bb = (
            (a.astype(np.float64), b.astype(np.float64))
            if precision == "fp64"
            else (a, b)
        )
        out["numpy"] = best_time(lambda: aa @ bb)
    try:
        import torch

        torch.set_num_threads(xo.get_num_threads())
        ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
        if precision == "fp32":
            out["torch"] = best_time(lambda: ta @ tb)
        elif precision == "bf16":
            ha, hb = ta.bfloat16(), tb.bfloat16()
            out["torch"] = best_time(lambda: ha @ hb)
        elif precision == "int8":
            qa, qb = xo.quantize(a), xo.quantize(b, axis=1)
            ia = torch.from_numpy(np.array(qa.data))
            ib = torch.from_numpy(np.array(qb.data))
            out["torch (_int_mm)"] = best_time(lambda: torch._int_mm(ia, ib))
    except ImportError:
        out["torch"] = None
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        m, k = a.shape
        n = b.shape[1]
        if precision in ("fp32", "int8"):
            if precision == "fp32":
                node = helper.make_node("MatMul", ["a", "b"], ["y"])
                ta, tb, ty = TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT
                feeds = {"a": a, "b": b}
                name = "onnxruntime (MatMul)"
            else:
                node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
                ta, tb, ty = TensorProto.INT8, TensorProto.INT8, TensorProto.INT32
                feeds = {
                    "a": np.array(xo.quantize(a).data),
                    "b": np.array(xo.quantize(b, axis=1).data),
                }
                name = "onnxruntime (MatMulInteger)"
            g = helper.make_graph(
                [node],
                "mm",
                [
                    helper.make_tensor_value_info("a", ta, [m, k]),
                    helper.make_tensor_value_info("b", tb, [k, n]),
                ],
                [helper.make_tensor_value_info("y", ty, [m, n])],
            )
            # an IR version every supported ONNX Runtime reads
            model = helper.make_model(
                g, opset_imports=[helper.make_opsetid("", 13)], ir_version=10
            )
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = xo.get_num_threads()
            sess = ort.InferenceSession(
                model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
            )
            out[name] = best_time(lambda: sess.run(None, feeds))
    except ImportError:
        out["onnxruntime"] = None
    if precision == "fp32":
        import openvino as ov
        import openvino.opset13 as ops

        pa = ops.parameter(list(a.shape), np.float32)
        model = ov.Model([ops.matmul(pa, ops.constant(b), False, False)], [pa])
        compiled = ov.Core().compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        out["openvino (Python API)"] = best_time(lambda: compiled(a))
    return out


def main() -> int:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 4096)).astype(np.float32)
    b = rng.standard_normal((4096, 4096)).astype(np.float32)
    ops = 2.0 * 512 * 4096 * 4096
    print("# xpuops beside its peers (matmul 512x4096x4096, same run)\n")
    print(
        "xpuops: best kernel time of its fastest device (int8 with QTensors, "
        "quantized once); peers: best whole call.\n"
    )
    print("| precision | xpuops best | peer | peer figure | xpuops / peer |")
    print("|---|---|---|---|---|")
    for prec in ("fp64", "fp32", "bf16", "int8"):
        args = (xo.quantize(a), xo.quantize(b, axis=1)) if prec == "int8" else (a, b)
        dev, thr = xpuops_best(xo.matmul, args, prec)
        for peer, t in peers_matmul(a, b, prec).items():
            if t is None:
                print(f"| {prec} | {dev}: {thr} | {peer} | not installed | - |")
                continue
            pt = xo.Throughput(ops / t, prec)
            print(
                f"| {prec} | {dev}: {thr} | {peer} | {pt} | "
                f"{thr.ops_per_s / pt.ops_per_s:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

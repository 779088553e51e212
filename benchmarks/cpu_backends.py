"""CPU backends against their peers and the machine's theoretical peaks.

    python benchmarks/cpu_backends.py [--quick] [--threads 2]

Every figure is measured in this run and printed with its unit and
precision; peers (NumPy, and PyTorch when it is installed) run in the same
process on the same data. Kernel = the backend's own run (best repeat);
end-to-end = the whole call, quantization and copies included (median).
Nothing here asserts a speed."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xpuops as xo
from xpuops.api.cpu import cpu_info, theoretical_peak

ROWS = []


def timed(fn, repeats, peer=False):
    """(best kernel seconds, median end-to-end seconds); a peer has no
    kernel time of its own, so its best whole call stands in."""
    fn()  # warm-up: plans, caches, pages
    walls, kernels = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        kernels.append(walls[-1] if peer else xo.last_info()["kernel_s"])
    return min(kernels), statistics.median(walls)


def row(label, who, prec, ops, kernel, e2e, note=""):
    thr = xo.Throughput(ops / kernel, prec)
    ROWS.append(
        (label, who, prec, f"{kernel * 1e3:.2f}", f"{e2e * 1e3:.2f}", str(thr), note)
    )
    return thr


def show(title):
    print(f"\n### {title}\n")
    print(
        "| shape | device | precision | kernel ms | end-to-end ms | throughput | note |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    ROWS.clear()


def bandwidth(mib=256, repeats=5):
    """Memory bandwidth of a NumPy copy: bytes read + written per second."""
    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_t(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2 * src.nbytes / best


def _t(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def try_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def matmuls(n, m, reps, torch, rng):
    a = rng.standard_normal((m, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    qa, qb = xo.quantize(a), xo.quantize(b, axis=1)
    ops = 2.0 * m * n * n
    label = f"{m}x{n}x{n}"
    k, e = timed(lambda: np.matmul(a, b), reps, peer=True)
    numpy = row(label, "numpy (peer)", "fp32", ops, k, e)
    res = {}
    for dev in ("openblas", "onednn"):
        k, e = timed(lambda: xo.matmul(a, b, device=dev), reps)
        res[dev, "fp32"] = row(
            label, dev, "fp32", ops, k, e, f"{ops / k / numpy.ops_per_s:.2f}x numpy"
        )
    for prec in ("bf16", "fp16", "int8", "int4"):
        k, e = timed(lambda: xo.matmul(a, b, device="onednn", precision=prec), reps)
        res["onednn", prec] = row(
            label,
            "onednn",
            prec,
            ops,
            k,
            e,
            xo.last_info()["impl"].split("(", 1)[1][:-1],
        )
    qb4 = xo.quantize(b, "int4", axis=1)
    for q, prec in ((qb, "int8"), (qb4, "int4")):
        k, e = timed(lambda: xo.matmul(qa, q, device="onednn"), reps)
        res["onednn-q", prec] = row(
            label,
            "onednn",
            prec,
            ops,
            k,
            e,
            "QTensor operands: no quantization per call",
        )
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        k, e = timed(lambda: torch.matmul(ta, tb), reps, peer=True)
        row(label, "torch (peer)", "fp32", ops, k, e)
        ta16, tb16 = ta.bfloat16(), tb.bfloat16()
        k, e = timed(lambda: torch.matmul(ta16, tb16), reps, peer=True)
        row(label, "torch (peer)", "bf16", ops, k, e)
        if m >= 17:  # torch._int_mm needs M > 16
            t8a = torch.from_numpy(qa.data)
            t8b = torch.from_numpy(qb.data)
            k, e = timed(lambda: torch._int_mm(t8a, t8b), reps, peer=True)
            row(label, "torch (peer)", "int8", ops, k, e, "torch._int_mm, s32 out")
    return res


RESNET = [  # (name, C, H, OC, K, stride, pad)
    ("conv1 7x7/2", 3, 224, 64, 7, 2, 3),
    ("res2 3x3", 64, 56, 64, 3, 1, 1),
    ("res2 1x1", 256, 56, 64, 1, 1, 0),
    ("res4 3x3", 256, 14, 256, 3, 1, 1),
]


def convs(batches, reps, torch, rng):
    for name, c, h, oc, kk, s, p in RESNET:
        w = rng.standard_normal((oc, c, kk, kk)).astype(np.float32)
        qw = xo.quantize(w, axis=0)
        for nb in batches:
            x = rng.standard_normal((nb, c, h, h)).astype(np.float32)
            oh = (h + 2 * p - kk) // s + 1
            ops = 2.0 * nb * oc * oh * oh * c * kk * kk
            label = f"{name} N={nb}"
            for dev, prec in (
                ("openblas", "fp32"),
                ("onednn", "fp32"),
                ("onednn", "bf16"),
                ("onednn", "int8"),
            ):
                ww = qw if prec == "int8" else w
                k, e = timed(
                    lambda: xo.conv2d(
                        x, ww, stride=s, padding=p, device=dev, precision=prec
                    ),
                    reps,
                )
                row(label, dev, prec, ops, k, e)
            if torch is not None:
                tx, tw = torch.from_numpy(x), torch.from_numpy(w)
                f = torch.nn.functional.conv2d
                k, e = timed(lambda: f(tx, tw, stride=s, padding=p), reps, peer=True)
                row(label, "torch (peer)", "fp32", ops, k, e)


def attentions(L, reps, torch, rng):
    b, h, d = 1, 32, 128
    q = rng.standard_normal((b, h, L, d)).astype(np.float32)
    k_ = rng.standard_normal((b, h, L, d)).astype(np.float32)
    v = rng.standard_normal((b, h, L, d)).astype(np.float32)
    for causal in (False, True):
        label = f"B=1 H=32 L={L} D=128{' causal' if causal else ''}"
        for dev, prec in (
            ("openblas", "fp32"),
            ("onednn", "fp32"),
            ("onednn", "bf16"),
            ("onednn", "int8"),
        ):
            k, e = timed(
                lambda: xo.attention(
                    q, k_, v, causal=causal, device=dev, precision=prec
                ),
                reps,
            )
            row(label, dev, prec, xo.last_info()["ops"], k, e)
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(t) for t in (q, k_, v))
            sdpa = torch.nn.functional.scaled_dot_product_attention
            pairs = L * (L + 1) / 2 if causal else L * L
            ops = 4.0 * b * h * d * pairs
            k, e = timed(lambda: sdpa(tq, tk, tv, is_causal=causal), reps, peer=True)
            row(label, "torch (peer)", "fp32", ops, k, e)


def oversubscription(rng, reps):
    """oneDNN (OpenMP) right after OpenBLAS (pthreads): if either pool kept
    spinning, the other would run slower than alone."""
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    alone, _ = timed(lambda: xo.matmul(a, a, device="onednn"), reps)
    best = []
    for _ in range(reps):
        xo.matmul(a, a, device="openblas")
        t = time.perf_counter()
        xo.matmul(a, a, device="onednn")
        best.append(time.perf_counter() - t)
    return alone, min(best), statistics.median(best)


def direct_onednn():
    exe = Path(__file__).with_name("onednn_direct")
    if not exe.exists():
        return None
    out = {}
    for args in (
        ("4096", "4096", "4096", "s8"),
        ("4096", "4096", "4096", "bf16"),
        ("64", "64", "64", "s8"),
    ):
        r = subprocess.run(
            [str(exe), *args, "plain", "200" if args[0] == "64" else "5"],
            capture_output=True,
            text=True,
            check=False,
        )
        out[args] = r.stdout.strip() or r.stderr.strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smaller shapes")
    args = ap.parse_args()
    xo.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    torch = try_torch()
    if torch is not None:
        torch.set_num_threads(args.threads)
    cpu = cpu_info()
    print(f"# CPU backends on {cpu.model}, {args.threads} threads\n")
    for d in xo.devices():
        if d.available and d.kind == "cpu":
            print(f"- {d.name}: {d.full_name}")
    print(
        f"- peers: numpy {np.__version__}"
        + (f", torch {torch.__version__}" if torch else " (torch not installed)")
    )
    peaks = {}
    for p in ("fp32", "bf16", "int8"):
        t, formula = theoretical_peak(p, cpu)
        peaks[p] = t
        print(f"- theoretical {t} = {formula}")
    bw = bandwidth()
    print(
        f"- measured memory bandwidth: {bw / 1e9:.1f} GB/s (NumPy copy, read + write)"
    )

    n = 2048 if args.quick else 4096
    reps = 3 if args.quick else 5
    res = matmuls(n, n, reps, torch, rng)
    show(f"matmul {n}^3")
    fp32 = max(res["openblas", "fp32"].ops_per_s, res["onednn", "fp32"].ops_per_s)
    int8 = res["onednn-q", "int8"]
    bf16 = res["onednn", "bf16"]
    print(
        f"\n- int8 (QTensor) = {int8.ops_per_s / peaks['int8'].ops_per_s:.0%} of the "
        f"theoretical AMX INT8 peak; {int8.ops_per_s / fp32:.1f}x our best FP32 rate "
        "(ratio of operation rates, not of like work)"
    )
    print(
        f"- bf16 = {bf16.ops_per_s / peaks['bf16'].ops_per_s:.0%} of the AMX BF16 "
        f"peak; {bf16.ops_per_s / fp32:.1f}x our best FP32 rate"
    )

    dec = matmuls(n, 1, max(reps, 20), torch, rng)
    show(f"decode: matmul 1x{n}x{n}")
    # the weights may fit a large last-level cache: measure the bandwidth at
    # their own working-set size as well as the streaming one
    bw_ws = bandwidth(mib=n * n * 4 // 2**20 // 2)
    print(
        f"- bandwidth at the fp32 weights' size ({n * n * 4 // 2**20} MiB "
        f"traffic): {bw_ws / 1e9:.1f} GB/s"
    )
    for key, t in dec.items():
        wbytes = n * n * {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1, "int4": 1}[key[1]]
        bound = 2.0 * n * n / (wbytes / bw_ws)
        print(
            f"- {key[0]} {key[1]}: {t}; reading the weights once at "
            f"{bw_ws / 1e9:.0f} GB/s bounds it at {xo.Throughput(bound, key[1])}"
            f" ({t.ops_per_s / bound:.0%} of that)"
        )

    convs((1,) if args.quick else (1, 32), reps, torch, rng)
    show("conv2d, ResNet-50 layers")
    attentions(512 if args.quick else 2048, max(2, reps - 2), torch, rng)
    show("attention")

    alone, after, med = oversubscription(rng, 10)
    print(
        f"\n- oversubscription: onednn fp32 1024^3 alone {alone * 1e3:.2f} ms, "
        f"right after an openblas call {after * 1e3:.2f} ms best / {med * 1e3:.2f} "
        "ms median"
    )
    direct = direct_onednn()
    if direct:
        print("\n### the same oneDNN primitive called directly from C\n")
        for v in direct.values():
            print(f"- {v}")
        a = np.ones((64, 64), np.float32)
        qa, qb = xo.quantize(a), xo.quantize(a, axis=1)
        xo.matmul(qa, qb, device="onednn")
        runs = []
        for _ in range(2000):
            t = time.perf_counter()
            xo.matmul(qa, qb, device="onednn")
            runs.append((time.perf_counter() - t, xo.last_info()["kernel_s"]))
        run_us = min(r[1] for r in runs) * 1e6
        call_us = min(r[0] for r in runs) * 1e6
        print(
            f"- xpuops 64^3 int8 with a cached plan: {run_us:.1f} us in the C "
            f"backend run, {call_us:.1f} us for the whole Python call"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

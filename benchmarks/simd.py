"""The simd backend against its peers, all measured in this one run (issue
#12).

    flock /tmp/xpuops-bench.lock python benchmarks/simd.py [--quick]

- decode GEMV, int8 (W8A8) 1 x 8192 x 8192 and int4 (W4A8, group 128 and
  per channel) 1 x 16384 x 8192, 64 MiB of weights either way, cold (the
  cache flushed before every call): as a share of the memory bandwidth
  xo.bandwidth() measures beside it (each round against its own probe, the
  median of the rounds), and against openvino:CPU on the same cold shape;
- fp32 and bf16 GEMV against openblas and onednn;
- int8 GEMM 4096^3 against onednn (a guard: the libraries stay the choice
  for large GEMMs);
- the attention section of benchmarks/simd_attention.py.

Figures are best kernel times (the backend's own run) with their unit and
precision. Nothing here asserts a speed."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import numpy as np
import xpuops as xo
from xpuops.api.cpu import cpu_info, llc_bytes

HERE = Path(__file__).resolve().parent


def available(name):
    return any(d.name == name and d.available for d in xo.devices())


def kernel(op_args, device, precision=None, cache="cold", repeats=10, **kw):
    """Best kernel seconds and the impl of one op on one device, or None
    (with the reason printed) when the device cannot run it."""
    try:
        m = xo.measure(
            xo.matmul,
            *op_args,
            device=device,
            precision=precision,
            cache=cache,
            repeats=repeats,
            accuracy=False,
            **kw,
        )
    except (xo.UnsupportedError, ValueError) as e:
        print(f"    {device}: cannot run it ({e})")
        return None
    return m.kernel_min_s, m.impl


def line(who, secs, ops, unit, extra=""):
    print(f"    {who:14s} {secs * 1e3:8.3f} ms  {ops / secs / 1e9:8.1f} {unit}{extra}")


def load():
    """The 1-minute load average: other jobs on the machine distort every
    figure here, so each section prints it."""
    return f"load {os.getloadavg()[0]:.2f}"


def _attention_module():
    """benchmarks/simd_attention.py, loaded by path (benchmarks/ is not a
    package): its attention section, and the bandwidth probe and shares
    both files use."""
    spec = importlib.util.spec_from_file_location(
        "simd_attention", HERE / "simd_attention.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ATT = _attention_module()


def share_text(shares):
    """The median of the rounds' shares of their own probe, with the range:
    the headline figure for a bandwidth-bound kernel."""
    med, lo, hi = ATT._share(shares)
    return (
        f"{100 * med:.0f}% of the bandwidth probed beside it "
        f"(median of {len(shares)} rounds, {100 * lo:.0f}-{100 * hi:.0f}%)"
    )


def gemv_quantized(bw, n, repeats, rounds):
    """Decode GEMVs with weights of at least twice the last-level cache:
    int8 1 x n x n; int4 1 x 2n x n (half a byte a weight, so K doubles to
    keep the bytes), group 128 and, for openvino:CPU, which takes only
    per-channel scales, per channel too."""
    print(f"\n## decode GEMV, cold weights ({load()})\n")
    print(
        f"  best kernel and whole call over {rounds} rounds of {repeats} "
        "calls, the devices and the bandwidth probe taking turns (a burst of "
        "load on the machine hits them alike)\n"
    )
    rng = np.random.default_rng(0)
    llc = llc_bytes()
    b = rng.standard_normal((2 * n, n)).astype(np.float32)
    cases = [
        ("int8", n, {}, "W8A8, per-channel", n * n + 4 * n),
        ("int4", 2 * n, {"group_size": 128}, "W4A8, group 128", n * n + n * n // 16),
        ("int4", 2 * n, {}, "W4A8, per-channel", n * n + 4 * n),
    ]
    ops_label = {"int8": "INT8 GOPS", "int4": "INT4 GOPS"}
    for prec, k, kw, label, wbytes in cases:
        qa = xo.quantize(rng.standard_normal((1, k)).astype(np.float32))
        ops = 2.0 * k * n
        llcx = f", {wbytes / llc:.1f}x the LLC" if llc else ""
        print(
            f"  {prec} 1 x {k} x {n} ({label}; {wbytes / 1e6:.0f} MB of weights "
            f"and scales{llcx})"
        )
        qb = xo.quantize(b[:k], prec, axis=1, **kw)
        devs = []
        for dev in ("simd", "openvino:CPU", "onednn"):
            if not available(dev):
                print(f"    {dev}: not available")
            else:
                devs.append(dev)
        best, impl, shares = {}, {}, {}
        for _ in range(rounds):
            # the probe once a round, beside the kernels: the machine's
            # bandwidth drifts with its neighbours (27 to 48 GB/s within
            # minutes on the 2-core VM), so each round's kernels are set
            # against that round's probe and the shares' median reported
            bw_r = ATT._probe()
            bw = max(bw, bw_r)
            for dev in list(devs):
                try:
                    m = xo.measure(
                        xo.matmul,
                        qa,
                        qb,
                        device=dev,
                        cache="cold",
                        repeats=repeats,
                        accuracy=False,
                    )
                except (xo.UnsupportedError, ValueError) as e:
                    print(f"    {dev}: cannot run it ({e})")
                    devs.remove(dev)
                    continue
                kb, cb = best.get(dev, (float("inf"), float("inf")))
                best[dev] = (min(kb, m.kernel_min_s), min(cb, m.call_min_s))
                impl[dev] = m.impl
                shares.setdefault(dev, []).append(wbytes / m.kernel_min_s / bw_r)
        print(f"    measured read bandwidth, best of the rounds: {bw / 1e9:.1f} GB/s")
        for dev, (kt, ct) in best.items():
            gbs = f"  {wbytes / kt / 1e9:5.1f} GB/s, best"
            line(dev, kt, ops, ops_label[prec], gbs)
            print(f"      {share_text(shares[dev])}; whole call {ct * 1e3:.3f} ms")
            if dev == "simd":
                print(f"      impl: {impl[dev]}")
        if "simd" in best and "openvino:CPU" in best:
            r = best["openvino:CPU"][0] / best["simd"][0]
            print(f"    simd / openvino:CPU: {r:.2f}x")
        if "simd" in best and "onednn" in best:
            print(f"    simd / onednn: {best['onednn'][0] / best['simd'][0]:.2f}x")
    print(f"  ({load()})")


def gemv_float(n, repeats):
    print(f"\n## decode GEMV 1 x {n} x {n}, float weights, cold\n")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    ops = 2.0 * n * n
    for prec in ("fp32", "bf16"):
        print(f"  {prec}")
        got = {}
        for dev in ("simd", "openblas", "onednn"):
            if not available(dev):
                print(f"    {dev}: not available")
                continue
            r = kernel((a, b), dev, precision=prec, cache="cold", repeats=repeats)
            if r is None:
                continue
            got[dev] = r[0]
            line(dev, r[0], ops, f"{prec.upper()} GFLOPS")
        for peer in ("openblas", "onednn"):
            if "simd" in got and peer in got:
                print(f"    simd / {peer}: {got[peer] / got['simd']:.2f}x")


def gemm_int8(n, repeats):
    print(f"\n## int8 GEMM {n}^3 (a guard), hot\n")
    rng = np.random.default_rng(2)
    qa = xo.quantize(rng.standard_normal((n, n)).astype(np.float32))
    qb = xo.quantize(rng.standard_normal((n, n)).astype(np.float32), axis=1)
    ops = 2.0 * n**3
    got = {}
    for dev in ("simd", "onednn"):
        r = kernel((qa, qb), dev, cache="hot", repeats=repeats)
        if r is None:
            continue
        got[dev] = r[0]
        line(dev, r[0], ops, "INT8 GOPS")
    if len(got) == 2:
        print(f"    simd / onednn: {got['onednn'] / got['simd']:.2f}x")


def attention_section(quick):
    # benchmarks/simd_attention.py's own entry: best of 1 call when quick
    ATT.run(repeats=1 if quick else 3, threads=xo.get_num_threads())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller shapes")
    args = ap.parse_args()
    info = cpu_info()
    simd = next((d for d in xo.devices() if d.name == "simd"), None)
    print(f"# simd backend, {info.model}, {xo.get_num_threads()} threads")
    if simd is None or not simd.available:
        print(f"simd unavailable: {simd.reason if simd else 'not built'}")
        return
    print(f"simd: {simd.full_name}; precisions {simd.precisions}")
    bw = xo.bandwidth()
    print(f"measured read bandwidth: {bw / 1e9:.1f} GB/s ({load()})")
    reps = 5 if args.quick else 10
    gemv_quantized(bw, 4096 if args.quick else 8192, 3, 3 if args.quick else 8)
    gemv_float(4096 if args.quick else 8192, reps)
    gemm_int8(1024 if args.quick else 4096, 3)
    attention_section(args.quick)


if __name__ == "__main__":
    main()

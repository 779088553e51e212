"""Writes the notebooks of docs/notebooks from the cells below (outputs are
never committed: tests/test_notebooks.py executes every notebook).

    python docs/notebooks/make_notebooks.py
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent


def md(text):
    return nbf.v4.new_markdown_cell(text.strip())


def code(text):
    return nbf.v4.new_code_cell(text.strip())


NOTEBOOKS = {
    "01_tops_vs_tflops.ipynb": [
        md("""
# TOPS vs TFLOPS on your own machine

Chips are sold on one number, but the numbers count different things.
**TOPS** counts integer operations (usually INT8, a multiply-accumulate
being 2 operations), **TFLOPS** floating-point ones (FP32, BF16, FP8...).
This notebook measures both on the machine it runs on."""),
        code("""
import numpy as np
import xpuops as xo

for d in xo.devices():
    print(d)"""),
        md("""
## What the hardware could do, on paper

A theoretical peak is cores x clock x operations per cycle of the widest
instruction for that precision. Every figure carries its formula."""),
        code("""
# the best device on this machine's CPU for each precision: the registry
# ranks the backends (oneDNN, OpenVINO, ...) and falls back to the portable
# reference, so the lesson shows on any machine
cpu8 = xo.resolve("cpu", "int8")
cpu32 = xo.resolve("cpu", "fp32")
print("int8 on", cpu8.name, "| fp32 on", cpu32.name)
for precision, peak in cpu8.peak.items():
    print(f"{precision:5s} {str(peak):>20s}  = {peak.detail}")
assert "int8" in cpu8.precisions and "fp32" in cpu32.precisions"""),
        md("""
## What it does, measured

The same matmul in three precisions. Integer results are counted in TOPS,
float results in TFLOPS, and each row says how accurate it was."""),
        code("""
rng = np.random.default_rng(0)
a = rng.standard_normal((512, 512)).astype(np.float32)
b = rng.standard_normal((512, 512)).astype(np.float32)
cmp = xo.compare(xo.matmul, a, b, devices=[cpu32.name, cpu8.name],
                 precisions="fp32,bf16,int8", min_time=0.05)
rows = {m.precision: m for m in cmp}
assert {"fp32", "int8"} <= set(rows), cmp.skipped  # the INT8 and FP32 rows exist
assert rows["int8"].throughput.unit == "TOPS"
assert rows["fp32"].throughput.unit == "TFLOPS"
cmp"""),
        md("""
The picture: each precision has its own roof (its theoretical peak) over
the same memory slope; the bars compare what a whole call got."""),
        code("""
bw = xo.bandwidth("cpu", nbytes=256 << 20)
cmp.plot(bandwidth=bw)"""),
        md("""
## Different operations do not divide

An INT8 operation is not an FP32 operation. `Throughput` refuses to compare
them unless you state an assumption, and then it says the result is assumed."""),
        code("""
int8, fp32 = rows["int8"].throughput, rows["fp32"].throughput
assert isinstance(int8, xo.Throughput) and isinstance(fp32, xo.Throughput)
try:
    int8 / fp32
except TypeError as e:
    print("refused:", e)
    assert "count different operations" in str(e)  # refused for the reason
else:
    raise AssertionError("an INT8 rate divided by an FP32 rate must be refused")
assumed = fp32.normalized("int8")
print(fp32, "->", assumed)
assert assumed.precision == "int8" and assumed.ops_per_s > fp32.ops_per_s"""),
        md("""
## The vendors' numbers

Ratings come dense or sparse, in INT8 or in FP4; "platform TOPS" add blocks
that do not work together. The chip database keeps them as data."""),
        code("""
from xpuops import chips

print(chips.compare("Snapdragon X2 Elite", "RTX 5090"))
print()
print(chips.platform_tops("Core Ultra 200V"))"""),
        code("""print(chips.table(cpu8))"""),
    ],
    "02_accuracy_vs_speed.ipynb": [
        md("""
# Accuracy vs speed across precisions

Narrower formats are faster where the hardware has instructions for them,
and always less accurate. Here every precision runs the same matmul and is
compared with an fp64 answer (SQNR in dB: about 6 dB per correct bit)."""),
        code("""
import numpy as np
import xpuops as xo

rng = np.random.default_rng(0)
a = rng.standard_normal((256, 512)).astype(np.float32)
b = rng.standard_normal((512, 256)).astype(np.float32)
# every real device in every precision it runs, and one simulated NPU (its
# times are modeled); a time budget keeps it short (rows that would not fit
# are listed with the reason)
devices = [d.name for d in xo.devices() if d.available and not d.simulated]
devices += [d.name for d in xo.devices() if d.available and d.simulated][:1]
cmp = xo.compare(xo.matmul, a, b, devices=devices, min_time=0.03, budget=60)
precisions = {m.precision for m in cmp}
assert {"fp32", "int8", "int4"} <= precisions, precisions
assert all(m.errors and m.errors["sqnr_db"] > 0 for m in cmp)
cmp"""),
        code("""
from xpuops.measuring.plot import figure  # shows itself in Jupyter

fig = figure(figsize=(9, 4.5), layout="constrained")
ax = fig.subplots()
devices = sorted({m.device for m in cmp})
markers = "osD^vPX<>h*"
colors = {"fp64": "#555555", "fp32": "#1f77b4", "bf16": "#2ca02c", "fp16": "#17becf",
          "fp8": "#bcbd22", "int8": "#d62728", "int4": "#9467bd"}
for m in cmp:  # colour: precision; marker: device; hollow: modeled
    modeled = m.source == "modeled"
    ax.scatter(m.errors["sqnr_db"], m.throughput_call.ops_per_s,
               facecolor="none" if modeled else colors[m.precision],
               edgecolor=colors[m.precision] if modeled else "black",
               marker=markers[devices.index(m.device) % len(markers)])
for p in sorted({m.precision for m in cmp}, key=list(colors).index):
    ax.scatter([], [], color=colors[p], label=p)
for i, d in enumerate(devices):
    ax.scatter([], [], color="white", edgecolor="black",
               marker=markers[i % len(markers)],
               label=d + (" (modeled, hollow)" if d.startswith("npusim") else ""))
ax.set_yscale("log")
ax.set_xlabel("SQNR vs fp64 (dB)")
ax.set_ylabel("operations per second (whole call)")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside
fig"""),
        md("""
## Where the error of int8 and int4 comes from

Quantization picks one scale per slice. Finer slices (per output channel,
then groups along K) follow the data more closely and lose less."""),
        code("""
exact = a.astype(np.float64) @ b
qa = xo.quantize(a)
sqnr = {}
for label, qb in [
    ("int8 per tensor", xo.quantize(b, "int8")),
    ("int8 per channel", xo.quantize(b, "int8", axis=1)),
    ("int4 per channel", xo.quantize(b, "int4", axis=1)),
    ("int4 groups of 64", xo.quantize(b, "int4", axis=1, group_size=64)),
]:
    y = xo.matmul(qa, qb, device="ref")
    sqnr[label] = xo.reference.sqnr_db(exact, y)
    print(f"{label:18s} SQNR {sqnr[label]:5.1f} dB")
# finer slices lose less
assert sqnr["int8 per channel"] >= sqnr["int8 per tensor"] - 0.5
assert sqnr["int4 groups of 64"] > sqnr["int4 per channel"]
assert sqnr["int8 per channel"] > sqnr["int4 per channel"] + 10"""),
    ],
    "03_memory_vs_compute.ipynb": [
        md("""
# Memory-bound vs compute-bound: GEMV vs GEMM

A language model generating one token multiplies a single row by every
weight matrix (GEMV): each weight is read once and used once. Processing a
prompt multiplies many rows at once (GEMM): each weight is reused. The first
is bounded by memory bandwidth, the second by the arithmetic peak."""),
        code("""
import numpy as np
import xpuops as xo

bw = xo.bandwidth("cpu", nbytes=256 << 20)
print(f"measured memory bandwidth: {bw / 1e9:.1f} GB/s")
rng = np.random.default_rng(0)
w = rng.standard_normal((1024, 1024)).astype(np.float32)
x1 = rng.standard_normal((1, 1024)).astype(np.float32)
# hot: back-to-back calls, the 4 MB of weights stay in the last-level cache;
# cold: the cache is flushed before every call, as for a model whose
# weights do not fit it. Memory-bound figures should be cold ones.
hot = xo.measure(xo.matmul, x1, w, precision="fp32", min_time=0.05)
gemv = xo.measure(xo.matmul, x1, w, precision="fp32", min_time=0.05, cache="cold")
gemm = xo.measure(xo.matmul, rng.standard_normal((512, 1024)).astype(np.float32), w,
                  precision="fp32", min_time=0.05)
print(hot)
print(gemv.explain(bandwidth=bw))
print()
print(gemm.explain(bandwidth=bw))
assert bw > 0 and gemv.intensity < 1 < gemm.intensity  # flops per byte
assert "memory" in gemv.explain(bandwidth=bw)
assert gemv.cache == "cold" and "cold cache" in str(gemv)
assert hot.cache == "hot" and (not hot.llc_bytes or hot.fits_llc)"""),
        md("""
## The roofline

Each precision has a flat ceiling (its peak) and a slope (memory bandwidth
times arithmetic intensity). GEMV sits on the slope, GEMM under the roof. The
GEMV point is measured cold: a hot one, served from cache, could sit above
the memory roof (the plot labels such points)."""),
        code("""
cmp = xo.compare(xo.matmul, x1, w, devices=["cpu"], precisions=["fp32"],
                 min_time=0.03, cache="cold")
big = xo.compare(xo.matmul, rng.standard_normal((512, 1024)).astype(np.float32), w,
                 devices=["cpu"], precisions=["fp32"], min_time=0.03)
both = xo.Comparison(list(cmp) + list(big), [], cmp.machine)
both.plot(bandwidth=bw)"""),
        md("""
## What that means for tokens per second

A decoder reads every weight once per token, so bandwidth / model size bounds
the token rate, whatever the TOPS."""),
        code("""
from xpuops import chips

cpu = xo.resolve("cpu")
bounds = [chips.decode_bound(who, params=7e9, precision="int4")
          for who in ("Snapdragon X Elite", "RTX 5090", cpu)]
for b in bounds:
    print(b)
    assert abs(b.tokens_per_s * b.weight_bytes / b.bandwidth - 1) < 1e-9
assert bounds[0].weight_bytes == 7e9 / 2  # int4: half a byte per weight
assert bounds[1].tokens_per_s > bounds[0].tokens_per_s  # GDDR7 beats LPDDR5X"""),
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.cells = cells
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbf.write(nb, HERE / name)


if __name__ == "__main__":
    main()

"""The fleet report: one table per op and shape (machines x devices x
precisions), the best sustained figure per machine and precision against
the machine's rated chip, as Markdown, HTML and a chart.

Ratios are only ever taken between figures of one precision (the same
device and precision across machines, or the best of one precision across
machines). A rated figure in another precision is normalised with
Throughput.normalized, which labels it assumed; a sparse rating is halved
and says so."""

from __future__ import annotations

import json
import math

from ..api.chipdata import get
from ..api.throughput import Throughput
from .table import frame, machine_labels


def _ok(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _tp(value, precision, source="measured", detail="") -> Throughput:
    return Throughput(float(value), precision, source, detail)


def rated(chip: str | None, precision: str):
    """(Throughput in ``precision`` or None, note): the chip's rated figure
    from xo.chips, normalised (and labelled assumed) where it counts another
    precision or sparse operations."""
    if not chip:
        return None, "chip not in xo.chips"
    c = get(chip)
    if c.value is None:
        return None, f"{c.name}: no rated figure published"
    t = c.throughput
    notes = [c.label]
    if c.sparse:
        t = Throughput(
            t.ops_per_s / 2,
            t.precision,
            "rated",
            "ASSUMED: the sparse figure halved (2:4 structured sparsity)",
        )
        notes.append("halved: dense")
    if t.precision != precision:
        t = t.normalized(precision)
        notes.append(f"normalised to {precision} (assumed, 2x per halving of width)")
    elif c.sparse:
        t = Throughput(t.ops_per_s, precision, "rated", t.detail)
    return t, "; ".join(notes)


def best(df) -> list:
    """One dict per (machine, precision): the measured row with the highest
    sustained figure (median kernel time), with the rated figure beside it."""
    ok = df[(df["status"] == "measured") & (df["source"] == "measured")]
    labels = machine_labels(df)
    out = []
    for (mid, prec), g in ok.groupby(["machine", "precision"], sort=True):
        r = g.loc[g["sustained"].astype(float).idxmax()]
        t = _tp(r["sustained"], prec)
        chip = r.get("machine_chip") if _ok(r.get("machine_chip")) else None
        rt, note = rated(chip, prec)
        peak = (
            _tp(r["peak"], prec, "theoretical", str(r["peak_formula"]))
            if _ok(r.get("peak"))
            else None
        )
        out.append(
            {
                "machine": mid,
                "label": labels[mid],
                "precision": prec,
                "sustained": t,
                "device": r["device"],
                "case": r["case"],
                "shape": r["shape"],
                "peak": peak,
                "rated": rt,
                "rated_note": note,
                "chip": chip,
                "noisy": bool(r.get("noisy")),
            }
        )
    return out


def _cell(r) -> str:
    if r is None:
        return "-"
    if r["status"] == "measured":
        s = str(r["throughput_str"])
        if r.get("source") == "modeled":
            s += " (modeled)"
        if r.get("noisy"):
            s += " NOISY"
        return s
    if r["status"] in ("unsupported", "skipped"):
        return "n/a"
    return r["status"].upper()


def markdown(df) -> str:
    """The fleet report as Markdown."""
    df = frame(df.to_dict("records"))
    labels = machine_labels(df)
    mids = sorted(labels, key=lambda m: labels[m])
    names = [labels[m] for m in mids]
    lines = ["# xpuops fleet report", "", "## Machines", ""]
    lines += [
        "| machine | id | CPU | ISA | cores | threads | chip (xo.chips) | "
        "measured | missing | failed | n/a |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in mids:
        g = df[df["machine"] == m]
        r = g.iloc[0]
        n = g["status"].value_counts()
        chip = r.get("machine_chip") if _ok(r.get("machine_chip")) else "unknown"
        lines.append(
            f"| {labels[m]} | {m} | {r.get('machine_cpu')} | {r.get('machine_isa')} "
            f"| {r.get('machine_cores')} | {r.get('machine_threads')} | {chip} "
            f"| {n.get('measured', 0)} | {n.get('missing', 0)} | {n.get('failed', 0)} "
            f"| {n.get('unsupported', 0) + n.get('skipped', 0)} |"
        )
    lines += ["", "Libraries:"]
    for m in mids:
        lines.append(
            f"- {labels[m]}: {df[df['machine'] == m].iloc[0].get('machine_libraries')}"
        )
    bad = df[df["status"].isin(["missing", "failed"])]
    if len(bad):
        lines += ["", "## Not measured", ""]
        for r in bad.to_dict("records"):
            lines.append(
                f"- {labels[r['machine']]}: {r['op']} {r['shape']} on {r['device']} "
                f"{r['precision']}: {r['status'].upper()}: {r['reason']}"
            )
    for (op, shape, case), g in df.groupby(["op", "shape", "case"], sort=False):
        kw = {
            k: v
            for k, v in json.loads(g["options"].iloc[0]).items()
            if k != "prequantized"
        }
        opts = (" " + ", ".join(f"{k}={v}" for k, v in kw.items())) if kw else ""
        lines += ["", f"## {op} {shape}{opts} ({case})", ""]
        head = ["device", "precision", "quantized beforehand", *names]
        head += [f"{n} / {names[0]}" for n in names[1:]]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        byk = {
            (r["machine"], r["device"], r["precision"]): r for r in g.to_dict("records")
        }
        for dev, prec in sorted({(r["device"], r["precision"]) for r in byk.values()}):
            recs = [byk.get((m, dev, prec)) for m in mids]
            some = next(r for r in recs if r is not None)
            pre = json.loads(some["options"]).get("prequantized", "-")
            cells = [dev, prec, pre, *(_cell(r) for r in recs)]
            base = recs[0]
            for r in recs[1:]:
                both = all(
                    x is not None and x["status"] == "measured" for x in (base, r)
                )
                # same device and precision: one kind of operation
                cells.append(
                    f"{float(r['throughput']) / float(base['throughput']):.2f}"
                    if both
                    else "-"
                )
            lines.append("| " + " | ".join(cells) + " |")
    rows = best(df)
    if rows:
        lines += [
            "",
            "## Best sustained figure per machine and precision",
            "",
            "| precision | machine | best sustained | on | theoretical peak "
            "| sustained / peak | rated (xo.chips) | sustained / rated | vs "
            f"{names[0]} |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        first = {r["precision"]: r for r in rows if r["machine"] == mids[0]}
        for r in sorted(rows, key=lambda x: (x["precision"], x["label"])):
            t, pk, rt = r["sustained"], r["peak"], r["rated"]
            base = first.get(r["precision"])
            flag = " NOISY" if r["noisy"] else ""
            rated_cell = f"{rt} ({r['rated_note']})" if rt else r["rated_note"]
            cells = [
                r["precision"],
                r["label"],
                f"{t}{flag}",
                f"{r['device']}, {r['case']}",
                str(pk) if pk else "-",
                f"{t / pk:.0%}" if pk else "-",
                rated_cell,
                f"{t / rt:.1%}" if rt else "-",
                f"{t / base['sustained']:.2f}" if base else "-",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append(
            "\nSustained: operations per second at the median kernel time of the "
            "measured row with the highest one; ratios only between figures of "
            "the same precision. A rated figure in another precision is "
            "normalised with the vendors' rule (labelled assumed): it is not "
            "a measurement."
        )
    lines += _digests(df, labels)
    lines += [
        "",
        "Cells: kernel rate (best kernel time); integer precisions in TOPS, "
        "float ones in TFLOPS (different operations, never divided). n/a: the "
        "device does not run it (reason in the table's reason column).",
    ]
    return "\n".join(lines) + "\n"


def _digests(df, labels) -> list:
    """Whether exact integer results agree across machines (the same data
    is measured everywhere)."""
    ok = (
        df[(df["status"] == "measured") & df["digest"].notna()]
        if "digest" in df
        else []
    )
    if not len(ok):
        return []
    out, differ, n = [], 0, 0
    for (case, dev, prec), g in ok.groupby(["case", "device", "precision"]):
        if g["machine"].nunique() < 2:
            continue  # measured on one machine: nothing to agree with
        n += 1
        if g["digest"].nunique() > 1:
            differ += 1
            hosts = ", ".join(
                f"{labels[m]} {d}"
                for m, d in zip(g["machine"], g["digest"], strict=True)
            )
            out.append(f"- DIFFERS: {case} {dev} {prec}: {hosts}")
    if not n:
        return []
    head = (
        f"\nExact integer results: {n - differ} of {n} agree bit for bit across "
        "machines."
    )
    return [head, *out]


def page(md: str) -> str:
    """Markdown as a standalone HTML page (markdown-it-py, which rich
    brings, with its table extension)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(md)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>xpuops fleet report</title><style>table{border-collapse:collapse}"
        "td,th{border:1px solid #aaa;padding:2px 6px}</style></head><body>\n"
        + body
        + "</body></html>\n"
    )


def html(df) -> str:
    """The report as a standalone HTML page."""
    return page(markdown(df))


def plot_best(df, path=None):
    """The best sustained figure per machine and precision (one panel per
    precision, log scale), each machine's theoretical peak of that device as
    a tick and its rated chip figure beside it where xo.chips knows the chip
    (hatched; normalised ones say assumed). Returns the Figure."""
    from matplotlib.figure import Figure

    rows = best(frame(df.to_dict("records")))
    precs = sorted({r["precision"] for r in rows})
    if not precs:
        raise ValueError("the fleet table holds no measured row to plot")
    fig = Figure(figsize=(4.2 * len(precs) + 1, 4.6), layout="constrained")
    axes = fig.subplots(1, len(precs), squeeze=False)[0]
    for ax, prec in zip(axes, precs, strict=True):
        mine = sorted(
            (r for r in rows if r["precision"] == prec), key=lambda r: r["label"]
        )
        unit = mine[0]["sustained"].unit
        scale = 1e12 if any(r["rated"] for r in mine) else 1e9
        tag = ("T" if scale == 1e12 else "G") + unit[1:]
        xs = range(len(mine))
        rated_labelled = False
        vals = [r["sustained"].ops_per_s / scale for r in mine]
        ax.bar(
            [x - 0.2 for x in xs], vals, 0.4, color="tab:blue", label="best sustained"
        )
        for x, r, v in zip(xs, mine, vals, strict=True):
            ax.annotate(
                f"{v:.3g}\n{r['device']}",
                (x - 0.2, v),
                ha="center",
                va="bottom",
                fontsize=7,
            )
            if r["peak"] is not None:
                p = r["peak"].ops_per_s / scale
                ax.plot(
                    [x - 0.4, x],
                    [p, p],
                    color="black",
                    lw=1.5,
                    label="theoretical peak of that device" if x == 0 else None,
                )
                ax.annotate(
                    f"theoretical {p:.3g}",
                    (x - 0.2, p),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
            if r["rated"] is not None:
                rv = r["rated"].ops_per_s / scale
                ax.bar(
                    x + 0.2,
                    rv,
                    0.4,
                    color="white",
                    edgecolor="tab:red",
                    hatch="//",
                    label=None if rated_labelled else "rated (xo.chips)",
                )
                rated_labelled = True
                assumed = " assumed" if r["rated"].detail.startswith("ASSUMED") else ""
                ax.annotate(
                    f"{r['chip']}\n{rv:.3g}{assumed}\n"
                    f"sustained: {r['sustained'] / r['rated']:.1%} of it",
                    (x + 0.2, rv),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
            else:
                ax.annotate(
                    "no rating:\n" + r["rated_note"],
                    (x + 0.2, v),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    color="tab:red",
                )
        ax.set_yscale("log")
        ax.set_xticks(list(xs), [r["label"] for r in mine], fontsize=8)
        ax.set_xlim(-0.7, len(mine) - 0.3)
        shown = vals + [
            t.ops_per_s / scale
            for r in mine
            for t in (r["peak"], r["rated"])
            if t is not None
        ]
        # bars grow from a floor well below the smallest figure, so the
        # shortest bar is still visible on the log scale
        ax.set_ylim(min(shown) / 10, max(shown) * 8)
        ax.set_ylabel(f"{prec.upper()} {tag}")
        ax.set_title(f"{prec}: sustained vs rated", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "xpuops fleet: best sustained figure per machine and precision "
        "(median kernel time)",
        fontsize=9,
    )
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig

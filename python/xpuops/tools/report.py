"""xpuops report: saved benchmark results (pytest --xpu-save) as Markdown,
an HTML page and a picture of each run against the first."""

from __future__ import annotations

import json
from pathlib import Path

from ..fleet.table import runs as fleet_runs
from ..measuring.plot import figure


def _report_markdown(runs) -> str:
    """Markdown of saved results: who measured, then one row per benchmark
    with each run's figure and the ratio of each later run to the first."""
    names = [name for name, _ in runs]
    lines = [
        "# xpuops benchmark report",
        "",
        "## Machines",
        "",
        "| run | CPU | ISA | threads | libraries |",
        "|---|---|---|---|---|",
    ]
    for name, data in runs:
        m = data["machine"]
        lines.append(
            f"| {name} | {m.get('machine_cpu')} | {m.get('machine_isa')} "
            f"| {m.get('machine_threads')} | {m.get('machine_libraries')} |"
        )
    keys = sorted({k for _, data in runs for k in data["results"]})
    head = [
        "benchmark",
        "device",
        "precision",
        *names,
        *(f"{n} / {names[0]}" for n in names[1:]),
        "SQNR dB",
    ]
    lines += [
        "",
        "## Results",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for k in keys:
        recs = [data["results"].get(k) for _, data in runs]
        first = next(r for r in recs if r)
        cells = [k.split("::")[-1], first["device"], first["precision"]]
        cells += [r["throughput_str"] if r else "-" for r in recs]
        base = recs[0]["throughput"] if recs[0] else None
        cells += [
            f"{r['throughput'] / base:.2f}" if r and base else "-" for r in recs[1:]
        ]
        cells.append(f"{first['sqnr_db']:.1f}" if first.get("sqnr_db") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Figures are the best kernel time of each benchmark; integer "
        "precisions in TOPS, float ones in TFLOPS (different operations).",
    ]
    return "\n".join(lines) + "\n"


def _markdown_html(md: str) -> str:
    """The report as a standalone HTML page (markdown-it-py, which rich
    already brings, with its table extension)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(md)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;"
        "padding:2px 6px}</style></head><body>\n" + body + "</body></html>\n"
    )


def _report_plot(runs, path) -> None:
    """One bar per benchmark: each later run's throughput over the first's."""
    base_name, base = runs[0]
    keys = sorted(
        k for k in base["results"] if all(k in data["results"] for _, data in runs[1:])
    )
    fig = figure(figsize=(9, 0.28 * len(keys) + 1.5), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / max(1, len(runs) - 1)
    for i, (name, data) in enumerate(runs[1:]):
        ratios = [
            data["results"][k]["throughput"] / base["results"][k]["throughput"]
            for k in keys
        ]
        ax.barh(
            [j + i * height for j in range(len(keys))],
            ratios,
            height=height,
            label=f"{name} / {base_name}",
        )
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(keys)), [k.split("::")[-1] for k in keys], fontsize=6)
    ax.set_xlabel("throughput relative to the first run (same precision)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.savefig(path, dpi=100)


def _load(path: str) -> dict:
    """A results file saved by ``pytest --xpu-save``; ValueError in one line
    for a file that is missing, unreadable or not such a file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read it: {e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("machine"), dict)
        and isinstance(data.get("results"), dict)
    ):
        raise ValueError(
            f"{path}: not a results file of pytest --xpu-save (it needs "
            "'machine' and 'results')"
        )
    return data


def cmd_report(args) -> int:
    runs = []
    for p in args.results:
        if Path(p).suffix in (".parquet", ".pq"):  # a fleet table: a run per machine
            runs += fleet_runs(p)
        else:
            runs.append((Path(p).stem, _load(p)))
    md = _report_markdown(runs)
    if args.plot and len(runs) > 1:
        _report_plot(runs, args.plot)
        md += f"\n![throughput of each run against the first]({Path(args.plot).name})\n"
    if args.output:
        Path(args.output).write_text(md)
    if args.html:
        Path(args.html).write_text(_markdown_html(md))
    print(md)
    return 0

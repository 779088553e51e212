"""The fleet table: one row per (machine, op, shape, device, precision,
options), written as Parquet through pyarrow.

Columns: the key; ``status`` (measured, missing, failed, unsupported, skipped) and
``reason``; ``case`` (the suite's name of the problem) and ``host`` (who
measured it); the record of xo.compare (RECORD_FIELDS: throughput, unit,
call and kernel times, SQNR, source, noisy, ...), ``sustained`` (operations
per second at the median kernel time), ``digest`` (hash of an exact integer
result), ``measured_at`` (UTC) and ``seconds`` (the task's time); the
fingerprint (MACHINE_FIELDS) and ``machine_chip``."""

from __future__ import annotations

from pathlib import Path

#: the fingerprint shown per machine (and handed to ``xpuops report``)
FINGERPRINT = (
    "machine_cpu",
    "machine_isa",
    "machine_cores",
    "machine_threads",
    "machine_clock_ghz",
    "machine_os",
    "machine_python",
    "machine_numpy",
    "machine_xpuops",
    "machine_libraries",
    "machine_chip",
)
KEY = ("machine", "op", "shape", "device", "precision", "options")
STATUSES = ("measured", "missing", "failed", "unsupported", "skipped")
#: statuses --resume measures again
TO_REDO = ("missing", "failed")


def key_of(row) -> tuple:
    """The row's key (KEY's values)."""
    return tuple(row[k] for k in KEY)


def frame(rows):
    """Rows (dicts) as a DataFrame, key columns first, sorted by key;
    ValueError when a key appears twice (a rerun replaces nothing
    silently)."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame(columns=[*KEY, "status", "reason"])
    dup = df[df.duplicated(list(KEY), keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise ValueError(
            f"the fleet table holds key {key_of(first)} {len(dup)} times; each key "
            "must appear once"
        )
    head = [*KEY, "status", "reason", "case", "host"]
    cols = head + [c for c in df.columns if c not in head]
    return df[cols].sort_values(list(KEY), kind="stable").reset_index(drop=True)


def merge(old, new):
    """``old`` with the rows of ``new`` put in: a new row replaces an old one
    of the same key only when the old one was not measured (a measured row
    is never replaced; ValueError if ``new`` tries)."""
    import pandas as pd

    if old is None or old.empty:
        return frame(new.to_dict("records"))
    if new.empty:
        return frame(old.to_dict("records"))
    olds = {key_of(r): r for r in old.to_dict("records")}
    for r in new.to_dict("records"):
        k = key_of(r)
        prev = olds.get(k)
        if prev is not None and prev["status"] == "measured":
            raise ValueError(
                f"{k} is measured already (at {prev.get('measured_at')}); the fleet "
                "never replaces a measured row"
            )
        olds[k] = r
    return frame(pd.DataFrame(list(olds.values())).to_dict("records"))


def write(df, path) -> None:
    """The table as Parquet (pyarrow)."""
    frame(df.to_dict("records")).to_parquet(path, engine="pyarrow", index=False)


def read(path):
    """A fleet table written by write(); ValueError when the file is not one."""
    import pandas as pd

    df = pd.read_parquet(path, engine="pyarrow")
    missing = [c for c in (*KEY, "status", "reason") if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a fleet table: no column {', '.join(missing)}")
    return frame(df.to_dict("records"))


def machine_labels(df) -> dict:
    """machine id -> a display name: its host labels joined by '+' (the id
    added where two machines would read the same)."""
    names = {}
    for mid, g in df.groupby("machine", sort=True):
        hosts = sorted({h for h in g["host"].dropna()})
        names[mid] = "+".join(hosts) or mid
    counts = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {m: (n if counts[n] == 1 else f"{n} ({m})") for m, n in names.items()}


def runs(path) -> list:
    """A fleet table as the runs ``xpuops report`` lines up: one run per
    machine, (name, {"machine": fingerprint, "results": {key: record}}),
    measured rows only."""
    df = read(path)
    labels = machine_labels(df)
    out = []
    for mid, g in df.groupby("machine", sort=True):
        ok = g[g["status"] == "measured"]
        first = g.iloc[0]
        results = {}
        for r in ok.to_dict("records"):
            name = f"{r['case']}[{r['device']}-{r['precision']}]"
            results[name] = {
                "throughput": float(r["throughput"]),
                "throughput_str": r["throughput_str"],
                "device": r["device"],
                "precision": r["precision"],
                "sqnr_db": None if _nan(r.get("sqnr_db")) else float(r["sqnr_db"]),
            }
        machine = {k: first.get(k) for k in FINGERPRINT}
        out.append((labels[mid], {"machine": machine, "results": results}))
    return out


def _nan(v) -> bool:
    return v is None or v != v


def is_fleet_table(path) -> bool:
    """A path ``xpuops report`` should read as a fleet table."""
    return Path(path).suffix.lower() in (".parquet", ".pq")

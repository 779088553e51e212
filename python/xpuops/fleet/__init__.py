"""Fleets: one benchmark suite run on many machines through Dask
distributed, merged into one table, compared honestly.

    from dask.distributed import Client
    import xpuops as xo
    client = Client("tls://lab:8786", security=xo.fleet.security("certs", "client"))
    df = xo.fleet.run(client, suite="quick")      # a pandas DataFrame
    xo.fleet.write(df, "fleet.parquet")
    print(xo.fleet.report(df))

Needs the [fleet] extra (dask[distributed], pyarrow, cryptography); this
module imports none of them until a function needs it."""

from __future__ import annotations

from . import summary, table, tls
from .host import host_label, machine_id
from .suite import Case, cases
from .sweep import run as _run


def run(client, suite="quick", devices=None, precisions=None, **kw):
    """xpuops.fleet.sweep.run (documented there): the suite on every machine
    among ``client``'s workers -> the fleet table (pandas DataFrame)."""
    return _run(client, suite, devices, precisions, **kw)


def read(path):
    """A fleet table from Parquet."""
    return table.read(path)


def write(df, path) -> None:
    """A fleet table to Parquet (pyarrow)."""
    table.write(df, path)


def report(df, plot=None) -> str:
    """The fleet report as Markdown (one table per op and shape, machines x
    devices x precisions; the best sustained figure per machine and
    precision against its rated chip); ``plot``: also write the chart."""
    md = summary.markdown(df)
    if plot:
        summary.plot_best(df, plot)
    return md


def security(directory, role="client"):
    """Dask Security for ``role`` from the certificates ``xpuops fleet init``
    made in ``directory``."""
    return tls.security(directory, role)


__all__ = [
    "Case",
    "cases",
    "host_label",
    "machine_id",
    "read",
    "report",
    "run",
    "security",
    "write",
]

"""``xpuops fleet``: the suite on many machines through Dask distributed.

xpuops fleet init certs --host lab.example.org   a CA + certificates
xpuops fleet scheduler --certs certs --host 10.0.0.5
xpuops fleet worker tls://10.0.0.5:8786 --certs certs --label laptop-1
xpuops fleet run --scheduler tls://10.0.0.5:8786 --certs certs -o fleet.parquet
xpuops fleet run ... --resume fleet.parquet      measure only what is missing
xpuops fleet report fleet.parquet --plot fleet.png --html fleet.html

Without TLS the scheduler, workers and runs refuse any address but
loopback, and loopback only with --insecure-local.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from . import summary, table
from .host import host_label
from .sweep import RESOURCE, run
from .tls import InsecureAddressError, check_address, init, security

DEFAULT_CERTS = os.environ.get("XPUOPS_FLEET_CERTS", "fleet-certs")
PORT = 8786
#: the only HTTP route a fleet scheduler or worker serves: the others (info,
#: json, prometheus) would tell anyone who reaches the port about the
#: cluster, unencrypted
HTTP_ROUTES = ["distributed.http.health"]


def _fail(msg: str) -> int:
    print(f"xpuops fleet: {msg}", file=sys.stderr)
    return 2


def cmd_init(args) -> int:
    try:
        paths = init(args.directory, hosts=args.host, days=args.days)
    except FileExistsError as e:
        return _fail(str(e))
    d = Path(args.directory)
    print(f"made a CA and certificates in {d}:")
    for role in ("scheduler", "worker", "client"):
        crt, key = paths[role]
        print(f"  {role:9s} {crt.name} + {key.name}")
    print(
        f"Copy ca.pem, worker.pem and worker-key.pem to each worker machine and "
        f"ca.pem, client.pem and client-key.pem to whoever runs the suite; keep "
        f"{d / 'ca-key.pem'} off the fleet."
    )
    return 0


def _security(args, role):
    """(protocol, Security or None) for ``role`` from --certs, or tcp
    without TLS when --insecure-local was given."""
    if args.insecure_local:
        return "tcp", None
    return "tls", security(args.certs, role)


def scheduler(host, port, protocol, sec):
    """A Dask Scheduler bound to ``host`` (its HTTP side too, serving only
    /health), with ``sec`` (a Security, or None for tcp); start it with
    ``async with``."""
    import dask
    from distributed import Scheduler

    with dask.config.set({"distributed.scheduler.http.routes": HTTP_ROUTES}):
        return Scheduler(
            host=host,
            port=port,
            protocol=protocol,
            security=sec,
            dashboard=False,
            dashboard_address=f"{host}:0",
        )


async def _scheduler(host, port, protocol, sec):
    async with scheduler(host, port, protocol, sec) as s:
        print(f"xpuops fleet scheduler at {s.address}", flush=True)
        await s.finished()


def cmd_scheduler(args) -> int:
    scheme = "tcp" if args.insecure_local else "tls"
    try:
        check_address(f"{scheme}://{args.host}:{args.port}", args.insecure_local)
        protocol, sec = _security(args, "scheduler")
    except (InsecureAddressError, FileNotFoundError) as e:
        return _fail(str(e))
    try:
        asyncio.run(_scheduler(args.host, args.port, protocol, sec))
    except KeyboardInterrupt:
        pass
    return 0


async def _worker(address, sec, label, listen):
    import dask
    from distributed import Worker

    with dask.config.set({"distributed.worker.http.routes": HTTP_ROUTES}):
        async with Worker(
            address,
            nthreads=1,
            resources={RESOURCE: 1},
            security=sec,
            name=label,
            host=listen,
            dashboard=False,
        ) as w:
            print(f"xpuops fleet worker {label} at {w.address}", flush=True)
            await w.finished()


def cmd_worker(args) -> int:
    if args.label:
        os.environ["XPUOPS_HOST_LABEL"] = args.label
    try:
        check_address(args.scheduler, args.insecure_local)
        label = host_label()
        _, sec = _security(args, "worker")
    except (InsecureAddressError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    try:
        asyncio.run(_worker(args.scheduler, sec, label, args.listen_host))
    except KeyboardInterrupt:
        pass
    return 0


def _line(row) -> str:
    what = f"{row['host']:>12s}  {row['op']} {row['shape']} {row['device']}"
    what += f" {row['precision']}"
    if row["status"] == "measured":
        noisy = " NOISY" if row.get("noisy") else ""
        return f"{what}: {row['throughput_str']}{noisy}"
    return f"{what}: {row['status'].upper()} ({row['reason']})"


def cmd_run(args) -> int:
    from distributed import Client

    out = args.output or args.resume
    if not out:
        return _fail("say where the table goes: -o fleet.parquet (or --resume it)")
    if Path(out).exists() and not args.resume:
        return _fail(
            f"{out} exists: --resume {out} measures what it misses; a rerun never "
            "replaces rows silently (choose another -o to start afresh)"
        )
    if args.resume and not Path(args.resume).is_file():
        return _fail(f"--resume {args.resume}: no such file")
    try:
        check_address(args.scheduler, args.insecure_local)
        _, sec = _security(args, "client")
    except (InsecureAddressError, FileNotFoundError) as e:
        return _fail(str(e))
    split = [x for x in (args.devices or "").split(",") if x] or None
    precs = [x for x in (args.precisions or "").split(",") if x] or None
    notes = []
    t0 = time.monotonic()
    with Client(args.scheduler, security=sec, timeout=args.connect_timeout) as client:
        try:
            df = run(
                client,
                args.suite,
                split,
                precs,
                min_time=args.min_time,
                shrink=args.shrink,
                timeout=args.timeout,
                resume=args.resume,
                insecure_local=args.insecure_local,
                on_row=lambda r: print(_line(r), flush=True),
                notes=notes,
            )
        except ValueError as e:
            return _fail(str(e))
    table.write(df, out)
    counts = df["status"].value_counts().to_dict()
    for n in notes:
        print(f"note: {n}")
    print(
        f"{out}: {len(df)} rows on {df['machine'].nunique()} machine(s), "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + f"; {time.monotonic() - t0:.1f} s"
    )
    if counts.get("missing") or counts.get("failed"):
        print(f"complete it with: xpuops fleet run ... --resume {out}")
        return 1
    return 0


def cmd_report(args) -> int:
    try:
        df = table.read(args.table)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    md = summary.markdown(df)
    if args.plot:
        try:
            summary.plot_best(df, args.plot)
        except ValueError as e:  # nothing measured yet
            return _fail(f"--plot: {e}")
        what = "best sustained figure per machine and precision"
        md += f"\n![{what}]({Path(args.plot).name})\n"
    if args.output:
        Path(args.output).write_text(md)
    if args.html:
        Path(args.html).write_text(summary.page(md))
    print(md)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xpuops fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="make a CA and the fleet's certificates")
    i.add_argument("directory", nargs="?", default=DEFAULT_CERTS)
    i.add_argument(
        "--host",
        action="append",
        default=[],
        help="a name or address the scheduler is reached at (repeatable)",
    )
    i.add_argument("--days", type=int, default=365, help="validity (default 365)")

    def common(q, what):
        q.add_argument(
            "--certs",
            default=DEFAULT_CERTS,
            help=f"directory made by 'xpuops fleet init' (default {DEFAULT_CERTS})",
        )
        q.add_argument(
            "--insecure-local",
            action="store_true",
            help=f"{what} without TLS: loopback addresses only",
        )

    s = sub.add_parser("scheduler", help="start the fleet's scheduler (TLS)")
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="the interface to bind (default 127.0.0.1; a LAN address to serve it)",
    )
    s.add_argument("--port", type=int, default=PORT)
    common(s, "serve")
    w = sub.add_parser("worker", help="join this machine to a fleet")
    w.add_argument("scheduler", help="tls://HOST:8786")
    w.add_argument("--label", help="this host's name (default $XPUOPS_HOST_LABEL)")
    w.add_argument("--listen-host", help="the interface the worker listens on")
    common(w, "connect")
    r = sub.add_parser("run", help="run the suite on every machine of a fleet")
    r.add_argument("--scheduler", required=True, help="tls://HOST:8786")
    r.add_argument("--suite", default="quick", help="quick, full or a suite JSON")
    r.add_argument("--devices", help="comma list (default: each machine's own)")
    r.add_argument("--precisions", help="comma list (default: the suite's)")
    r.add_argument("--min-time", type=float, default=0.2)
    r.add_argument("--shrink", type=int, default=1, help="divide the sizes by this")
    r.add_argument(
        "--timeout", type=float, default=900.0, help="seconds one case may take"
    )
    r.add_argument("--connect-timeout", default="30s")
    r.add_argument("-o", "--output", help="the Parquet table to write")
    r.add_argument("--resume", help="a fleet table: measure only what it misses")
    common(r, "connect")
    rp = sub.add_parser("report", help="compare the machines of a fleet table")
    rp.add_argument("table", help="a fleet Parquet table")
    rp.add_argument("--plot", help="write the sustained vs rated chart (PNG)")
    rp.add_argument("--html", help="write an HTML page")
    rp.add_argument("-o", "--output", help="write the Markdown")
    return p


def main(argv=None) -> int:
    """Entry point of ``xpuops fleet``."""
    args = parser().parse_args(argv)
    try:
        import distributed  # noqa: F401  (every subcommand but report needs it)
        import pyarrow  # noqa: F401
    except ImportError as e:
        return _fail(
            f"{e.name} is not installed: the fleet needs the [fleet] extra "
            "(pip install 'xpuops[fleet]')"
        )
    commands = {
        "init": cmd_init,
        "scheduler": cmd_scheduler,
        "worker": cmd_worker,
        "run": cmd_run,
        "report": cmd_report,
    }
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

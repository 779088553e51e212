"""xo.fleet.run(): the suite once on every distinct machine among a Dask
cluster's workers, merged into one table.

Hosts and machines. A worker's host is its label (XPUOPS_HOST_LABEL, else
its host name); its machine is the id of its fingerprint (host.IDENTITY).
Every fleet task asks for the worker resource ``xpuops-host=1`` and is pinned
to one worker per host, so no two measurements share a host at once and
nothing of the fleet's runs beside one. Hosts of one machine (identical
fingerprints) take cases from one queue: identical machines add throughput,
different machines each measure themselves.

Faults. A worker that leaves the cluster, or a case that runs past
``timeout``, retires that host for the rest of the run: its finished rows
are kept, the cases it held are marked missing with the reason, and the
machine's remaining cases go to its other hosts (or are marked missing when
none is left). ``resume`` (a table or its Parquet path) measures only what
is missing or failed there."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from ..api.devices import ALIASES
from ..api.precision import PRECISIONS, check_precisions
from . import suite as _suite
from .host import IDENTITY
from .table import KEY, TO_REDO, frame, key_of, merge, read
from .tls import check_address
from .worker import machine_columns, measure_case, whoami

RESOURCE = "xpuops-host"
#: tasks queued on a host's worker at once (one runs, one waits: the round
#: trip between two measurements is hidden)
DEPTH = 2
#: seconds to fetch a finished row from its worker
FETCH_S = 10.0


@dataclass
class _Host:
    label: str
    machine: str
    worker: str
    me: dict
    futures: deque = field(default_factory=deque)  # (future, item) in order
    head_since: float = 0.0
    retired: str = ""  # why it takes no more cases


def _plan(cases, me, devices, precisions, suite) -> tuple:
    """(items to measure, rows not measured) of one machine: items are
    (case, device, precision); a device the machine lacks or a precision it
    does not run is a row with status "unsupported" and the reason; a big
    case on the ref oracle is "skipped". With devices=None each machine's
    devices run the precisions they have (the suite's grid), no others."""
    have = me["devices"]
    avail = {n: d for n, d in have.items() if d["available"]}
    devs = list(devices) if devices else _suite.default_devices(avail)
    precs = list(precisions) if precisions else list(_suite.default_precisions(suite))
    items, rows = [], []
    for case in cases:
        for dev in devs:
            for prec in precs:
                if prec not in case.precisions:
                    continue  # outside the suite's grid for this op
                why, status = "", "unsupported"
                d = have.get(dev)
                if d is None:
                    why = f"{dev} is not a device of this machine"
                elif not d["available"]:
                    why = f"{dev} is not available here: {d['reason']}"
                elif prec not in d["precisions"] and not devices:
                    continue  # the machine's own devices: the grid they run
                elif prec not in d["precisions"]:
                    runs = [n for n, x in avail.items() if prec in x["precisions"]]
                    why = (
                        f"{dev} does not run {prec}; devices here that do: "
                        f"{', '.join(runs) or 'none'}"
                    )
                elif case.big and d["backend"] == "ref":
                    why = "the ref oracle sits out the suite's large shapes"
                    status = "skipped"
                if why:
                    rows.append(_row(me, case, dev, prec, status, why))
                else:
                    items.append((case, dev, prec))
    return items, rows


def _row(me, case, device, precision, status, reason) -> dict:
    return {
        **machine_columns(me),
        "op": case.op,
        "shape": case.shape,
        "device": device,
        "precision": precision,
        "options": case.options(precision),
        "case": case.name,
        "status": status,
        "reason": reason,
    }


def _check_devices(devices, precisions):
    if isinstance(devices, str):
        devices = [devices]
    if devices is not None and (
        not isinstance(devices, (list, tuple))
        or not all(isinstance(d, str) for d in devices)
    ):
        raise TypeError(
            f"devices must be None or a list of device names, got {devices!r}"
        )
    # any spelling the rest of the API takes ("INT8", "bfloat16", "int8,fp32")
    precisions = check_precisions(precisions)
    for d in devices or ():
        if d in ALIASES:
            raise ValueError(
                f"devices: {d!r} is an alias, and means different devices on "
                "different machines; name devices (ref, onednn, openblas, "
                "opencl:0, openvino:CPU, ...), or leave devices=None for each "
                "machine's own"
            )
    bad = [p for p in precisions or () if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precisions {bad}; valid: {', '.join(PRECISIONS)}")
    return devices, precisions


def hosts(client) -> tuple:
    """(hosts, notes): one _Host per host label among the workers that carry
    the xpuops-host resource (the first such worker of each label), and
    notes on the workers left out. ValueError when no worker carries it, or
    when one label covers workers with different fingerprints."""
    workers = client.scheduler_info()["workers"]
    able = sorted(a for a, w in workers.items() if w.get("resources", {}).get(RESOURCE))
    notes = [
        f"worker {a} has no {RESOURCE} resource: not used (start it with "
        f'--resources "{RESOURCE}=1")'
        for a in sorted(set(workers) - set(able))
    ]
    if not able:
        raise ValueError(
            f"no worker of the cluster carries the {RESOURCE} resource; start "
            f'each machine\'s worker with --nthreads 1 --resources "{RESOURCE}=1" '
            "(xpuops fleet worker does)"
        )
    probes = client.run(whoami, workers=able)
    out = {}
    for addr in able:
        me = probes[addr]
        h = out.get(me["host"])
        if h is None:
            out[me["host"]] = _Host(me["host"], me["machine"], addr, me)
        elif h.machine != me["machine"]:
            diff = [
                k for k in IDENTITY if h.me["fingerprint"][k] != me["fingerprint"][k]
            ]
            raise ValueError(
                f"workers {h.worker} and {addr} both call themselves host "
                f"{me['host']!r} but differ in {', '.join(diff)}; give each "
                "machine its own XPUOPS_HOST_LABEL"
            )
        else:
            notes.append(
                f"worker {addr} is a second worker of host {me['host']!r}: not used "
                "(one measurement at a time per host)"
            )
    return list(out.values()), notes


def run(
    client,
    suite="quick",
    devices=None,
    precisions=None,
    *,
    min_time: float = 0.2,
    cache: str = "hot",
    shrink: int = 1,
    timeout: float = 900.0,
    resume=None,
    insecure_local: bool = False,
    on_row=None,
    notes: list | None = None,
):
    """Run ``suite`` ("quick", "full", a suite JSON path or a list of
    suite.Case) once on every distinct machine among ``client``'s workers;
    returns the fleet table (a pandas DataFrame, one row per key, see
    xpuops.fleet.table).

    devices: device names measured on every machine (None: each machine's
    own real devices but ref and OpenCL-on-CPU); precisions: a list (None:
    fp32 and int8 for the quick suite, every suite precision for the full
    one). min_time and cache go to xo.measure; shrink divides the suite's
    sizes (a smoke test). timeout: seconds one case may take before its host
    is retired. resume: a fleet table (or Parquet path) whose measured rows
    are kept and not measured again. insecure_local: allow a tcp:// scheduler
    on loopback (TLS is required otherwise). on_row(row) is called for each
    finished row; notes, a list, receives what the run left out and why."""
    from distributed import wait

    check_address(client.scheduler.address, insecure_local)
    devices, precisions = _check_devices(devices, precisions)
    if cache not in ("hot", "cold"):
        raise ValueError(f"cache must be 'hot' or 'cold', got {cache!r}")
    cases = _suite.cases(suite, shrink)
    old = (
        read(resume)
        if isinstance(resume, str) or hasattr(resume, "__fspath__")
        else resume
    )
    done_keys = set()
    if old is not None and len(old):
        missing = [c for c in ("status", *KEY) if c not in old.columns]
        if missing:
            raise ValueError(
                f"resume: the table lacks column(s) {', '.join(missing)}; pass "
                "a table written by xo.fleet.run or `xpuops fleet run -o`"
            )
        done_keys = {
            key_of(r) for r in old.to_dict("records") if r["status"] not in TO_REDO
        }
    notes = notes if notes is not None else []
    hs, why = hosts(client)
    notes += why
    queues, rows, by_machine = {}, [], {}
    for h in hs:
        by_machine.setdefault(h.machine, []).append(h)
    for mid, group in by_machine.items():
        items, skipped = _plan(cases, group[0].me, devices, precisions, suite)
        queues[mid] = deque(
            it for it in items if (mid, *_item_key(it)) not in done_keys
        )
        rows += [r for r in skipped if key_of(r) not in done_keys]

    def emit(row):
        rows.append(row)
        if on_row is not None:
            on_row(row)

    def retire(h, reason, head_reason=None):
        h.retired = reason
        first = True
        while h.futures:
            fut, (case, dev, prec) = h.futures.popleft()
            fut.cancel()
            emit(
                _row(
                    h.me,
                    case,
                    dev,
                    prec,
                    "missing",
                    (head_reason if first and head_reason else reason),
                )
            )
            first = False

    last_check = 0.0
    while True:
        now = time.monotonic()
        for h in hs:
            q = queues[h.machine]
            while not h.retired and q and len(h.futures) < DEPTH:
                item = q.popleft()
                fut = client.submit(
                    measure_case,
                    item[0],
                    item[1],
                    item[2],
                    min_time,
                    cache,
                    workers=[h.worker],
                    allow_other_workers=False,
                    resources={RESOURCE: 1},
                    pure=False,
                    retries=0,
                )
                if not h.futures:
                    h.head_since = now
                h.futures.append((fut, item))
        live = [f for h in hs for f, _ in h.futures]
        for mid, group in by_machine.items():
            if queues[mid] and all(h.retired for h in group):
                reasons = "; ".join(f"{h.label}: {h.retired}" for h in group)
                while queues[mid]:
                    case, dev, prec = queues[mid].popleft()
                    emit(
                        _row(
                            group[0].me,
                            case,
                            dev,
                            prec,
                            "missing",
                            "not measured: no host of this machine was left "
                            f"({reasons})",
                        )
                    )
        if not live:
            break
        try:
            wait(live, timeout=0.25, return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished yet: look after the hosts
            pass
        now = time.monotonic()
        for h in hs:
            while h.futures and h.futures[0][0].done():
                fut, item = h.futures.popleft()
                h.head_since = now
                emit(_result(client, h, fut, item))
        if now - last_check > 0.5:
            last_check = now
            present = set(client.scheduler_info()["workers"])
            for h in hs:
                if h.retired or not h.futures:
                    continue
                if h.worker not in present:
                    retire(
                        h,
                        f"the worker of host {h.label} left the cluster before "
                        "measuring this",
                        f"the worker of host {h.label} left the cluster (died or "
                        "was stopped) while measuring this",
                    )
                elif now - h.head_since > timeout:
                    retire(
                        h,
                        f"host {h.label} was retired: a case ran past the "
                        f"{timeout:g} s timeout",
                        f"timed out: still running after {timeout:g} s on host "
                        f"{h.label}",
                    )
    new = frame(rows)
    return merge(old, new) if old is not None else new


def _item_key(item) -> tuple:
    case, dev, prec = item
    return (case.op, case.shape, dev, prec, case.options(prec))


def _fetch(client, h, fut):
    """The row a finished future holds, or None when it was lost: the row
    lives on the worker until fetched, and a worker that died in between
    took it along (Dask would recompute it on that worker only)."""
    try:
        return fut.result(timeout=2.0)
    except TimeoutError:
        if h.worker not in client.scheduler_info()["workers"]:
            return None
    try:  # the worker is there, only slow to answer
        return fut.result(timeout=FETCH_S)
    except TimeoutError:
        return None


def _result(client, h, fut, item) -> dict:
    """The row of a finished future: its own row, or "missing" (the worker
    was lost) / "failed" (the task raised outside the measurement)."""
    case, dev, prec = item
    if fut.status == "finished":
        row = _fetch(client, h, fut)
        if row is not None:
            return row
        fut.cancel()
        return _row(
            h.me,
            case,
            dev,
            prec,
            "missing",
            f"the worker of host {h.label} left the cluster before its result "
            "was fetched",
        )
    if fut.status == "cancelled":
        return _row(h.me, case, dev, prec, "missing", "cancelled before it ran")
    err = fut.exception()
    name = type(err).__name__
    if name in ("KilledWorker", "CommClosedError", "FutureCancelledError"):
        return _row(
            h.me,
            case,
            dev,
            prec,
            "missing",
            f"the worker of host {h.label} was lost while measuring this ({name})",
        )
    return _row(h.me, case, dev, prec, "failed", f"{name}: {err}")

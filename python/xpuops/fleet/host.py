"""Who a worker is: its host label, its machine fingerprint (the record's
MACHINE_FIELDS) and the machine id derived from it, and the rated chip
where xo.chips knows it. Runs on the workers; imports no Dask."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket

from ..api.chipdata import CHIPS, get
from ..api.devices import devices
from ..measuring.compare import machine_fingerprint

#: The fingerprint fields that make two workers the same machine: those
#: pytest --xpu-compare requires to match (pytest_plugin.SAME_MACHINE). The
#: measured clock and the Python/OS versions are recorded, not keyed.
IDENTITY = (
    "machine_cpu",
    "machine_isa",
    "machine_cores",
    "machine_threads",
    "machine_libraries",
)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def host_label() -> str:
    """This host's name in the fleet: $XPUOPS_HOST_LABEL, else the host
    name. Workers with one label are one host: the fleet measures on one of
    them at a time."""
    label = os.environ.get("XPUOPS_HOST_LABEL") or socket.gethostname()
    label = label.strip()
    if not _LABEL.match(label):
        raise ValueError(
            f"host label {label!r} (XPUOPS_HOST_LABEL, else the host name) must be "
            "1-63 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit; set XPUOPS_HOST_LABEL to such a name"
        )
    return label


def machine_id(fingerprint: dict) -> str:
    """A short stable id of the IDENTITY fields: equal ids, identical
    machines (they share the suite's work)."""
    blob = json.dumps({k: fingerprint.get(k) for k in IDENTITY}, sort_keys=True)
    return "m-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _plain(text: str) -> str:
    text = re.sub(r"\((r|tm|c)\)|[®™]", " ", text.lower())
    return " ".join(re.sub(r"[^a-z0-9.+ ]", " ", text).split())


def chip_of(fingerprint: dict) -> str | None:
    """The xo.chips entry this machine is: $XPUOPS_HOST_CHIP (a name
    xo.chips.get accepts) or the one chip whose name appears, as whole
    words, in the CPU model or a device's name; None when unknown."""
    named = os.environ.get("XPUOPS_HOST_CHIP")
    if named:
        try:
            return get(named).name
        except KeyError as e:
            raise ValueError(f"XPUOPS_HOST_CHIP: {e.args[0]}") from None
    cpu = fingerprint.get("machine_cpu") or ""
    libs = fingerprint.get("machine_libraries") or ""
    text = f" {_plain(cpu + ' ' + libs)} "
    hits = [c.name for c in CHIPS if f" {_plain(c.name)} " in text]
    return hits[0] if len(hits) == 1 else None


def probe() -> dict:
    """What the fleet needs to know about this worker's machine: its host
    label, fingerprint, machine id, chip, and the devices it has (name ->
    kind, backend, simulated, precisions) with the reason of those it has
    not. Holds no paths, user names or environment beyond these."""
    fp = machine_fingerprint()
    return {
        "host": host_label(),
        "fingerprint": fp,
        "machine": machine_id(fp),
        "chip": chip_of(fp),
        "devices": {
            d.name: {
                "kind": d.kind,
                "backend": d.backend,
                "simulated": d.simulated,
                "available": d.available,
                "reason": d.reason,
                "precisions": list(d.precisions),
            }
            for d in devices()
        },
    }

"""What a fleet worker runs: one suite case on one device in one precision,
measured with xo.measure, returned as one row of the fleet table. Imports
no Dask; the fleet sends these functions by reference."""

from __future__ import annotations

import hashlib
import threading
import time

import numpy as np

from ..api.devices import resolve
from ..api.errors import DeviceUnavailableError, UnsupportedError
from ..api.ops import attention, conv2d, matmul
from ..measuring.compare import Comparison
from ..measuring.measure import measure
from .host import probe

#: one measurement at a time in this process, whatever the worker's thread
#: count (the xpuops-host resource already serialises the fleet's tasks)
_ONE = threading.Lock()
_PROBE: dict = {}


def _me() -> dict:
    if not _PROBE:
        _PROBE.update(probe())
    return _PROBE


def whoami() -> dict:
    """probe() of this worker's machine (cached in the worker process)."""
    return dict(_me())


def machine_columns(me: dict) -> dict:
    """The fingerprint columns every row of this machine carries."""
    return {
        "machine": me["machine"],
        "host": me["host"],
        "machine_chip": me["chip"],
        **me["fingerprint"],
    }


def measure_case(case, device: str, precision: str, min_time: float, cache: str):
    """Measure ``case`` (a suite.Case) on ``device`` in ``precision``; the
    fleet table's row: status "measured", or "unsupported" with the reason
    when the device cannot run it, or "failed" with the error."""
    me = _me()
    row = {
        **machine_columns(me),
        "op": case.op,
        "shape": case.shape,
        "device": device,
        "precision": precision,
        "options": case.options(precision),
        "case": case.name,
    }
    op = {"matmul": matmul, "conv2d": conv2d, "attention": attention}[case.op]
    with _ONE:
        started = time.time()
        try:
            args, kw = case.operands(precision)
            m = measure(
                op,
                *args,
                device=device,
                precision=precision,
                min_time=min_time,
                cache=cache,
                **kw,
            )
        except (UnsupportedError, DeviceUnavailableError) as e:
            return {**row, "status": "unsupported", "reason": str(e)}
        except Exception as e:  # a measurement that raised: kept, not hidden
            return {**row, "status": "failed", "reason": f"{type(e).__name__}: {e}"}
        rec = Comparison([m], [], {}).records()[0]
        rec.pop("shape", None)  # the case's label (the same text) is the key
        rec.pop("device", None)
        rec.pop("precision", None)
        rec["sustained"] = m.ops / m.kernel_median_s if m.kernel_median_s else None
        rec["digest"] = _digest(op, args, kw, device, precision, m)
        return {
            **row,
            **rec,
            "status": "measured",
            "reason": "",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": time.time() - started,
        }


def _digest(op, args, kw, device, precision, m) -> str | None:
    """A hash of an exact integer result (the same on every machine whose
    device is exact), None for float results."""
    if precision not in ("int8", "int4") or not resolve(device).exact_integer:
        return None
    out = op(*args, device=m.device, precision=precision, **kw)
    return hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()[:16]

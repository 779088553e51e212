"""Repeat an op until a minimum total time and keep every repeat's times.

The measurement layer (measure/compare) builds on this; the tour uses it
directly."""

from __future__ import annotations

import time

from ._ops import last_info


def time_op(
    fn,
    *args,
    min_time: float = 0.2,
    min_repeats: int = 3,
    max_repeats: int = 1000,
    **kw,
) -> dict:
    """Call ``fn(*args, **kw)`` once to warm up (plan creation is reported
    apart as ``plan_s``), then repeatedly until ``min_time`` seconds and
    ``min_repeats`` calls. Returns the last result, wall and kernel seconds
    of each repeat, and the op's info (ops, bytes, impl, native)."""
    t0 = time.perf_counter()
    fn(*args, **kw)
    first = time.perf_counter() - t0
    plan_s = last_info().get("plan_s", 0.0)
    walls, kernels = [], []
    start = time.perf_counter()
    while (len(walls) < min_repeats or time.perf_counter() - start < min_time) and len(
        walls
    ) < max_repeats:
        t = time.perf_counter()
        out = fn(*args, **kw)
        walls.append(time.perf_counter() - t)
        kernels.append(last_info()["kernel_s"])
    return {
        "out": out,
        "wall_s": walls,
        "kernel_s": kernels,
        "first_call_s": first,
        "plan_s": plan_s,
        "info": last_info(),
    }

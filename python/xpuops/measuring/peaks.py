"""The measured attainable peak of a device: the best rate of a
compute-bound matmul, cached per process."""

from __future__ import annotations

import numpy as np

from ..api.devices import get_num_threads, resolve
from ..api.ops import matmul
from ..api.quant import quantize
from ..api.throughput import Throughput
from .measure import measure

_attained: dict = {}


def peak(device, precision: str, n: int | None = None) -> Throughput:
    """The measured attainable peak of ``device`` in ``precision``: the best
    rate of a compute-bound n x n x n matmul (default 2048, 512 on ref),
    with pre-quantized operands for integer precisions so only the kernel
    is timed. Source "measured", or "modeled" on a simulated device (its
    times come from a performance model)."""
    dev = resolve(device, precision)
    # a single-core device (ref) gets a smaller problem: same regime, 64x less
    n = n or (512 if dev.peak_cores == 1 else 2048)
    key = (dev.name, precision, n, get_num_threads())
    if key not in _attained:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        if precision in ("int8", "int4"):
            a, b = quantize(a), quantize(b, precision, axis=1)
        m = measure(matmul, a, b, device=dev.name, precision=precision, accuracy=False)
        _attained[key] = Throughput(
            m.throughput.ops_per_s,
            precision,
            m.source,
            f"{n}^3 matmul on {dev.name}: {m.impl}",
        )
    return _attained[key]

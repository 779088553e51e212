"""xpuops: quantized matmul, conv2d and attention on every device of this
machine, in every precision, measured in the right unit.

    import numpy as np, xpuops as xo
    y = xo.matmul(a, w, device="cpu", precision="int8")
"""

from . import fleet, reference
from .api import libs as _libs
from .api.devices import Device, devices, get_num_threads, resolve, set_num_threads
from .api.errors import DeviceUnavailableError, UnsupportedError
from .api.ops import attention, conv1d, conv2d, last_info, matmul
from .api.precision import PRECISIONS
from .api.quant import QTensor, quantize
from .api.throughput import Throughput
from .api.version import __version__
from .measuring.bandwidth import bandwidth
from .measuring.canary import Canary, canary
from .measuring.compare import Comparison, compare
from .measuring.measure import Measurement, Peer, measure
from .measuring.peaks import peak
from .teach import chips

# device enumeration is lazy: the library paths are in place before it runs
_libs.configure()

#: What ``import xpuops`` did to the process environment: variable ->
#: (value, "xpuops" if import set it, "user" if the user's own was kept).
#: Thread-pool spin limits (docs/DESIGN.md s7); also named in the
#: ``Device.threads`` of the device whose pool each one tunes.
environment = dict(_libs.ENVIRONMENT)


__all__ = [
    "PRECISIONS",
    "Device",
    "Canary",
    "Comparison",
    "DeviceUnavailableError",
    "Measurement",
    "Peer",
    "QTensor",
    "Throughput",
    "UnsupportedError",
    "__version__",
    "attention",
    "bandwidth",
    "canary",
    "chips",
    "compare",
    "conv1d",
    "conv2d",
    "devices",
    "environment",
    "fleet",
    "get_num_threads",
    "last_info",
    "matmul",
    "measure",
    "peak",
    "quantize",
    "reference",
    "resolve",
    "set_num_threads",
]

"""xpuops: quantized matmul, conv2d and attention on every device of this
machine, in every precision, measured in the right unit.

    import numpy as np, xpuops as xo
    y = xo.matmul(a, w, device="cpu", precision="int8")
"""

from . import _libs, chips, reference
from ._canary import Canary, canary
from ._compare import Comparison, compare
from ._devices import Device, devices, get_num_threads, set_num_threads
from ._errors import DeviceUnavailableError, UnsupportedError
from ._measure import Measurement, measure
from ._ops import attention, conv2d, last_info, matmul
from ._peaks import bandwidth, peak
from ._precision import PRECISIONS
from ._quant import QTensor, quantize
from ._throughput import Throughput

# device enumeration is lazy: the library paths are in place before it runs
_libs.configure()

#: What ``import xpuops`` did to the process environment: variable ->
#: (value, "xpuops" if import set it, "user" if the user's own was kept).
#: Thread-pool spin limits (docs/DESIGN.md s7); also named in the
#: ``Device.threads`` of the device whose pool each one tunes.
environment = dict(_libs.ENVIRONMENT)

__version__ = "0.1.0"

__all__ = [
    "PRECISIONS",
    "Device",
    "Canary",
    "Comparison",
    "DeviceUnavailableError",
    "Measurement",
    "QTensor",
    "Throughput",
    "UnsupportedError",
    "attention",
    "bandwidth",
    "canary",
    "chips",
    "compare",
    "conv2d",
    "devices",
    "environment",
    "get_num_threads",
    "last_info",
    "matmul",
    "measure",
    "peak",
    "quantize",
    "reference",
    "set_num_threads",
]

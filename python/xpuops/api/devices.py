"""Devices: every backend of this build, available or not, and name lookup."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .. import _core
from .errors import DeviceUnavailableError, UnsupportedError
from .libs import ENVIRONMENT, SPIN_LIMIT_BACKEND
from .peaks import known_bandwidth, theoretical
from .precision import CODE, check_precision, closest

#: The aliases: "the best available device of that kind"; the registry in
#: the core holds the preference (xo_device_resolve).
ALIASES = ("cpu", "gpu", "npu")
#: Names of GPU APIs users try as device names; "did you mean 'gpu'".
_GPU_WORDS = ("cuda", "rocm", "hip", "metal", "mps", "vulkan", "xpu", "directml")


@dataclass(frozen=True)
class Device:
    """One device of one backend.

    ``precisions`` maps each precision the device runs to "native" (its own
    arithmetic in that format) or "emulated" (computed exactly as specified
    by widening to a wider format). ``peak`` maps precisions to theoretical
    Throughputs (formula in ``.detail``); ``bandwidth`` is the measured
    memory bandwidth in bytes/s once ``xpuops.bandwidth()`` has run, else
    None. ``follows_threads`` says whether ``set_num_threads`` changes the
    device's thread count; ``threads`` says how it is set (or why it cannot
    follow), and which environment variable xpuops set for its pool.
    """

    name: str
    kind: str
    backend: str
    available: bool
    reason: str
    simulated: bool
    full_name: str
    exact_integer: bool
    precisions: dict = field(default_factory=dict)
    #: what the device reports of itself (OpenCL), 0 when unknown
    compute_units: int = 0
    clock_mhz: int = 0
    vector_f32: int = 0
    vector_i32: int = 0
    follows_threads: bool = False
    threads: str = ""
    #: what the backend reports of its peaks: precision -> {ops_per_cycle
    #: (CPU: per core), ops_per_s (the device's own figure), source,
    #: formula}; ``peak`` turns it into Throughputs
    peak_info: dict = field(default_factory=dict)
    #: cores a CPU backend's peak counts (0: set_num_threads)
    peak_cores: int = 0
    #: a simulated device's rated memory bandwidth in GB/s, 0 otherwise
    bandwidth_gbs: float = 0.0
    #: a simulated NPU's model: share of its rated TOPS sustained, and the
    #: fixed cost of one dispatch in seconds (0 for real devices)
    model_utilisation: float = 0.0
    model_dispatch_s: float = 0.0

    @property
    def peak(self) -> dict:
        """precision -> theoretical Throughput, each with its formula."""
        return theoretical(self)

    @property
    def bandwidth(self) -> float | None:
        """Measured memory bandwidth (bytes/s), or None until measured."""
        return known_bandwidth(self)

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        sim = ", simulated" if self.simulated else ""
        return f"Device({self.name!r}, kind={self.kind!r}{sim}, {state})"


def _threads_note(d: dict) -> str:
    """The core's note on the device's threads, plus the environment
    variables import set for its pool (docs/DESIGN.md s7)."""
    note = d["threads"]
    for name, backend in SPIN_LIMIT_BACKEND.items():
        if d["backend"] == backend and d["available"] and name in ENVIRONMENT:
            value, who = ENVIRONMENT[name]
            how = "set by xpuops at import" if who == "xpuops" else "the user's, kept"
            note += f"; {name}={value} ({how})"
    return note


@functools.lru_cache(maxsize=1)
def _all() -> tuple[Device, ...]:
    return tuple(
        Device(
            name=d["name"],
            kind=d["kind"],
            backend=d["backend"],
            available=d["available"],
            reason=d["reason"],
            simulated=d["simulated"],
            full_name=d["full_name"],
            exact_integer=d["exact_integer"],
            precisions=dict(d["precisions"]),
            compute_units=d["compute_units"],
            clock_mhz=d["clock_mhz"],
            vector_f32=d["vector_f32"],
            vector_i32=d["vector_i32"],
            follows_threads=d["follows_threads"],
            threads=_threads_note(d),
            peak_info=dict(d["peak"]),
            peak_cores=d["peak_cores"],
            bandwidth_gbs=d["bandwidth_gbs"],
            model_utilisation=d["model_utilisation"],
            model_dispatch_s=d["model_dispatch_s"],
        )
        for d in _core.devices()
    )


def devices() -> list[Device]:
    """Every device of every backend of this build, available or not; an
    unavailable one says why in ``.reason``."""
    return list(_all())


def canonical_name(device: str) -> str:
    """The registry's name for a device spelled the way users type it:
    case-insensitive ("CPU", "OneDNN", "openvino:cpu"), spaces or
    underscores for hyphens ("npusim:Snapdragon X Elite"), and a bare
    backend with several devices for its first one ("opencl" is "opencl:0",
    "openvino" its first available device). Unknown names come back as
    given (resolve() says what is valid)."""
    text = device.strip()
    low = text.lower()
    if low in ALIASES:
        return low
    names = [d.name for d in _all()]
    if text in names:
        return text
    key = low.replace("_", "-").replace(" ", "-")
    for name in names:
        if name.lower() == key:
            return name
    # a bare backend name: its first available device, else its first
    same = [d for d in _all() if d.backend == key]
    if same:
        return next((d for d in same if d.available), same[0]).name
    return text


def device_names() -> list[str]:
    """Every name resolve() takes: the aliases, then each device."""
    return list(ALIASES) + [d.name for d in _all()]


def resolve(device, precision: str | None = None, shape_class: int = 0) -> Device:
    """The available Device that ``device`` (a name, an alias "cpu"/"gpu"/
    "npu", or a Device) means; ValueError for an unknown name (with the
    closest valid one), DeviceUnavailableError for a device this machine
    lacks. Names are case-insensitive; a bare backend with several devices
    ("opencl") means its first one. An alias picks the best device of its
    kind that runs ``precision`` (when given), so ``device="cpu"`` means "on
    the CPU", whatever the precision; for a small matmul (``shape_class`` 1)
    the one with the least cost per call; for a skinny one (``shape_class``
    2: M <= 32, decode) the one measured fastest there in that precision
    (simd for int8, int4 and bf16, openblas for fp32 and fp64); for an
    attention (``shape_class`` 3)
    likewise (simd for fp32, bf16 and int8). The tables and their figures
    are in csrc/core/registry.c."""
    if isinstance(device, Device):
        device = device.name
    if not isinstance(device, str):
        raise TypeError(
            f"device must be a string such as 'cpu' or 'ref', got "
            f"{type(device).__name__}"
        )
    all_devices = _all()
    name = canonical_name(device)
    if name in ALIASES:
        # the core's registry ranks the backends, per shape class
        code = -1 if precision is None else CODE[check_precision(precision)]
        found = _core.device_resolve(name, code, shape_class)
        return next(d for d in all_devices if d.name == found)
    for d in all_devices:
        if d.name == name:
            if not d.available:
                raise DeviceUnavailableError(
                    f"device {device!r} is not available: {d.reason}"
                )
            return d
    names = device_names()
    near = closest(device, names)
    if near is None and device.lower() in _GPU_WORDS:
        near = "gpu"  # a vendor's API name for what xpuops calls the GPU
    hint = f" (did you mean {near!r}?)" if near else ""
    raise ValueError(
        f"unknown device {device!r}{hint}; valid devices are {', '.join(names)}"
    )


def check_supported(dev: Device, precision: str) -> None:
    """UnsupportedError naming the devices that can, if dev cannot run
    precision at all."""
    if precision in dev.precisions:
        return
    able = [d.name for d in _all() if d.available and precision in d.precisions]
    raise UnsupportedError(
        f"device {dev.name!r} cannot run precision {precision!r}; devices "
        f"that can: {', '.join(able) or 'none on this machine'}"
    )


def set_num_threads(n: int) -> None:
    """Set one thread count for every CPU-side pool that can follow it:
    OpenBLAS and oneDNN at once, OpenVINO CPU plans on their next run (a
    recompile). The ref backend is single-threaded; PoCL's pool is fixed
    when it starts (``Device.follows_threads`` and ``.threads`` say so)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The thread count last set with set_num_threads."""
    return _core.get_num_threads()

"""The rated figures of shipping chips as data (shared/FACTS.md): what
vendors quote, in which precision, dense or sparse, with memory bandwidth.
The helpers that teach how to read them are in ``xpuops.chips``."""

from __future__ import annotations

from dataclasses import dataclass

from .throughput import Throughput

SOURCE = "vendor specification, as reported in mid-2026"


@dataclass(frozen=True)
class Chip:
    """One rated accelerator block. ``value`` is in units of 10^12 operations
    per second as the vendor quotes it (None where no figure is published);
    ``bandwidth`` is the memory bandwidth in GB/s (None if not quoted)."""

    name: str
    block: str
    value: float | None
    unit: str  # as quoted: "TOPS", "TFLOPS" or "AI TOPS"
    precision: str  # the format the figure counts
    sparse: bool  # 2:4 structured sparsity assumed by the figure
    bandwidth: float | None
    notes: str = ""
    parts: tuple = ()  # a "platform" figure's blocks: ((block, value), ...)
    source: str = SOURCE

    @property
    def throughput(self) -> Throughput:
        """The rated figure as a Throughput (source "rated")."""
        if self.value is None:
            raise ValueError(
                f"{self.name}: the vendor publishes no figure ({self.notes})"
            )
        return Throughput(self.value * 1e12, self.precision, "rated", self.label)

    @property
    def label(self) -> str:
        dense = "sparse" if self.sparse else "dense"
        if self.value is None:
            return f"{self.name}: no rated figure"
        return (
            f"{self.name}: {self.value:,g} {self.unit} "
            f"({self.precision.upper()}, {dense})"
        )


CHIPS = (
    Chip(
        "Apple A18 Pro Neural Engine",
        "phone NPU",
        35,
        "TOPS",
        "int8",
        False,
        60,
        "16-core Neural Engine, iPhone 16; LPDDR5X 64-bit",
    ),
    Chip(
        "Apple M4 Neural Engine",
        "laptop NPU",
        38,
        "TOPS",
        "int8",
        False,
        120,
        "LPDDR5X-7500, 128-bit",
    ),
    Chip(
        "Apple M5",
        "GPU with neural accelerators",
        None,
        "TOPS",
        "int8",
        False,
        None,
        "no NPU TOPS published; 10 GPU cores each with a neural "
        "accelerator, 'up to 3.5x M4 AI'",
    ),
    Chip(
        "Snapdragon X Elite",
        "laptop NPU (Hexagon)",
        45,
        "TOPS",
        "int8",
        False,
        135,
        "Copilot+ wave 1; an open matmul benchmark through ONNX Runtime's "
        "QNN provider measured about 0.57 TOPS (about 1.3% of the rating)",
    ),
    Chip(
        "Core Ultra 200V",
        "laptop NPU (Lunar Lake)",
        48,
        "TOPS",
        "int8",
        False,
        136,
        "marketed as 120 platform TOPS",
        parts=(("GPU", 67), ("NPU", 48), ("CPU", 5)),
    ),
    Chip(
        "Ryzen AI 300",
        "laptop NPU (XDNA 2)",
        50,
        "TOPS",
        "int8",
        False,
        120,
        "Strix Point, LPDDR5X-7500 128-bit",
    ),
    Chip(
        "Ryzen AI Max",
        "NPU + unified memory (Strix Halo)",
        50,
        "TOPS",
        "int8",
        False,
        256,
        "up to 128 GB unified memory, up to 96 GB as VRAM",
    ),
    Chip(
        "Snapdragon X2 Elite",
        "laptop NPU (Hexagon)",
        80,
        "TOPS",
        "int8",
        False,
        152,
        "Copilot+ 2026 wave; 85 TOPS on the top SKUs",
    ),
    Chip(
        "RTX 5080", "consumer GPU", 1801, "AI TOPS", "fp4", True, 960, "GDDR7, 256-bit"
    ),
    Chip(
        "RTX 5090",
        "consumer GPU",
        3352,
        "AI TOPS",
        "fp4",
        True,
        1790,
        "21,760 CUDA cores, 32 GB GDDR7, up to 575 W",
    ),
    Chip(
        "H100", "data-center GPU", 1979, "TFLOPS", "fp8", False, 3350, "H100 SXM, HBM3"
    ),
    Chip(
        "B200",
        "data-center GPU",
        4500,
        "TFLOPS",
        "fp8",
        False,
        8000,
        "HBM3e; about 9,000 FP4",
    ),
    Chip(
        "TPU v7 Ironwood",
        "data-center ASIC",
        4614,
        "TFLOPS",
        "fp8",
        False,
        None,
        "192 GB HBM3e per chip",
    ),
)


def get(name) -> Chip:
    """The chip whose name contains ``name`` (case-insensitive); a Chip is
    returned as it is."""
    if isinstance(name, Chip):
        return name
    key = str(name).lower()
    hits = [c for c in CHIPS if key == c.name.lower()] or [
        c for c in CHIPS if key in c.name.lower()
    ]
    if len(hits) != 1:
        names = ", ".join(c.name for c in CHIPS)
        raise KeyError(
            f"{name!r} names {'no' if not hits else 'more than one'} "
            f"chip; known chips: {names}"
        )
    return hits[0]


def names() -> list:
    """Every chip in the database."""
    return [c.name for c in CHIPS]

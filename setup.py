"""Build of the C core into xpuops._core (setuptools Extension + NumPy C API).

Sources are every .c file under csrc/ except those of backends that have no
code yet. Warnings are on and the build is expected to be clean.
"""

import sys
from pathlib import Path

import numpy as np
from setuptools import Extension, setup

ROOT = Path(__file__).parent


def embed_opencl_kernels() -> None:
    """kernels/*.cl -> generated/cl_sources.h (C strings), before compiling."""
    import importlib.util

    path = ROOT / "csrc" / "backends" / "opencl" / "embed.py"
    spec = importlib.util.spec_from_file_location("xo_embed_cl", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.embed()


embed_opencl_kernels()
# every C file of the core, not the compile-time checks run by the tests nor
# the libFuzzer targets (csrc/fuzz, built by `make fuzz-c`)
SOURCES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "csrc").rglob("*.c")
    if not p.name.endswith("_check.c") and "fuzz" not in p.relative_to(ROOT).parts
)
# headers, included bodies and the embedded OpenCL kernels: a change to any
# of them rebuilds the extension
DEPENDS = sorted(
    str(p.relative_to(ROOT))
    for pattern in ("*.h", "*.inc", "*.cl")
    for p in (ROOT / "csrc").rglob(pattern)
)


CFLAGS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-O3",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    # the reference results must not depend on whether the compiler fused a
    # multiply and an add: keep every rounding step as written
    "-ffp-contract=off",
    # no errno from libm and no FP-exception side effects to preserve: lets
    # loops with float compares vectorize; every computed value is the same
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fvisibility=hidden",
]
LDFLAGS = []
if sys.platform.startswith("linux"):
    # the simd backend's threads: libgomp, the runtime oneDNN's gomp build
    # already brings into the process. Elsewhere (Apple clang has no
    # OpenMP) its kernels run on the calling thread.
    CFLAGS.append("-fopenmp")
    LDFLAGS.append("-fopenmp")

setup(
    ext_modules=[
        Extension(
            "xpuops._core",
            sources=SOURCES,
            depends=DEPENDS,
            include_dirs=[np.get_include(), "csrc"],
            define_macros=[("NPY_TARGET_VERSION", "NPY_2_0_API_VERSION")],
            extra_compile_args=CFLAGS,
            extra_link_args=LDFLAGS,
            libraries=["m", "dl", "pthread"],
        )
    ],
    package_data={"xpuops": ["py.typed"]},
)

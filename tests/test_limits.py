"""Limits are checked before anything is converted or allocated (issue 11):
a K too long for s32 fails at once, with no more memory than its inputs,
and operands too large for memory fail with MemoryError, not the OOM
killer. Each case runs in a child process under an address-space limit
(RLIMIT_AS), so a regression fails the test instead of exhausting the
machine."""

import json
import subprocess
import sys
import textwrap

import pytest

#: The child: imports xpuops, limits its address space to what it has
#: mapped plus HEADROOM, runs each case and reports the exception, the time
#: and the growth of its peak resident memory (VmHWM) as JSON.
CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np
    import xpuops as xo
    from xpuops import _core
    from xpuops.api.precision import CODE

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    xo.devices()  # every backend loaded: its mappings count before the limit
    headroom = int(sys.argv[1])
    limit = status("VmSize:") + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def bc(value, dtype, shape):  # a zero-memory broadcast view
        return np.broadcast_to(np.asarray(value, dtype), shape)

    K = 2**31
    cases = {
        "matmul_int8_views": lambda: xo.matmul(
            bc(1, np.int8, (1, K)), bc(1, np.int8, (K, 1)), precision="int8"
        ),
        "matmul_int4_views": lambda: xo.matmul(
            bc(1, np.int8, (1, K)), bc(1, np.int8, (K, 1)), precision="int4"
        ),
        "conv2d_int8_views": lambda: xo.conv2d(
            bc(1, np.int8, (1, K, 1, 1)), bc(1, np.int8, (1, K, 1, 1)),
            precision="int8",
        ),
        "attention_int8_lk": lambda: xo.attention(
            bc(1, np.float32, (1, 1, 1, 2)),
            bc(1, np.int8, (1, 1, K, 2)),
            bc(1, np.int8, (1, 1, K, 2)),
            precision="int8",
        ),
        "attention_int8_d": lambda: xo.attention(
            *(bc(1, np.int8, (1, 1, 1, K)),) * 3, precision="int8"
        ),
        # the core on its own (no Python pre-check): float views of K =
        # 2^31, quantizing them would take 4 GiB
        "core_matmul_int8": lambda: _core.matmul(
            bc(1, np.float32, (1, 1, K)), bc(1, np.float32, (1, K, 1)),
            "ref", CODE["int8"], None, None, False,
        ),
        "core_conv2d_int8": lambda: _core.conv2d(
            bc(1, np.float32, (1, K, 1, 1)), bc(1, np.float32, (1, K, 1, 1)),
            None, "ref", CODE["int8"], None, None, (1, 1), (1, 1), (0, 0),
            (0, 0), 1, False,
        ),
        # real int8 arrays (256 MiB in all): their float64 copies would be
        # 2 GiB, so growth beyond the inputs means they were converted
        "matmul_int8_arrays": lambda: xo.matmul(
            real_a, real_b, precision="int8"
        ),
        # fp32 operands of 2 x 8 GiB: more than the limit allows
        "matmul_fp32_too_big": lambda: xo.matmul(
            bc(1, np.int8, (1, K)), bc(1, np.int8, (K, 1)), precision="fp32"
        ),
        # fp64 operands of 2 x 128 GiB: more than any memory here
        "matmul_fp64_too_big": lambda: xo.matmul(
            bc(1, np.int8, (1, 2**34)), bc(1, np.int8, (2**34, 1)),
            precision="fp64",
        ),
    }
    real_a = np.ones((1, 2**27), np.int8)
    real_b = np.ones((2**27, 1), np.int8)
    out = {}
    for name in sys.argv[2:]:
        before = status("VmHWM:")
        t0 = time.perf_counter()
        try:
            cases[name]()
            err = None
        except Exception as e:
            err = [type(e).__name__, str(e)]
        out[name] = {
            "error": err,
            "seconds": time.perf_counter() - t0,
            "growth": status("VmHWM:") - before,
        }
    print(json.dumps(out))
    """
)

#: Address space the child may map beyond what it has at the start: room
#: for the small allocations a refused call makes, far below any of the
#: conversions that used to happen (16 GiB for the int8 case).
HEADROOM = 3 * 2**30
#: Peak resident growth a refused call may cause.
GROWTH = 256 * 2**20


def run_child(*cases):
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(HEADROOM), *cases],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def limit(amag, bmag):
    """The longest reduction whose |acc| <= K * amag * bmag fits s32."""
    return (2**31 - 1) // (amag * bmag)


K = 2**31
INT_LIMITS = {
    "matmul_int8_views": f"K = {K} .*limit is {limit(127, 127)}",
    "matmul_int4_views": f"K = {K} .*limit is {limit(127, 7)}",  # W4A8
    "conv2d_int8_views": f"C/groups x KH x KW = {K} .*limit is {limit(127, 127)}",
    "attention_int8_lk": f"Lk = {K} .*limit is {limit(255, 127)}",  # P is u8
    "attention_int8_d": f"D = {K} .*limit is {limit(127, 127)}",
    "core_matmul_int8": f"K = {K} .*limit is {limit(127, 127)}",
    "core_conv2d_int8": f"C/groups x KH x KW = {K} .*limit is {limit(127, 127)}",
    "matmul_int8_arrays": f"K = {2**27} .*limit is {limit(127, 127)}",
}


def test_s32_limits_fail_before_any_conversion():
    import re

    out = run_child(*INT_LIMITS)
    for case, pattern in INT_LIMITS.items():
        r = out[case]
        assert r["error"] and r["error"][0] == "ValueError", (case, r)
        assert re.search(pattern, r["error"][1]), (case, r["error"][1])
        assert r["seconds"] < 1.0, (case, r)
        assert r["growth"] < GROWTH, (case, r)


@pytest.mark.parametrize("case", ["matmul_fp32_too_big", "matmul_fp64_too_big"])
def test_operands_too_large_for_memory_fail_cleanly(case):
    r = run_child(case)[case]
    assert r["error"] and r["error"][0] == "MemoryError", r
    assert "cannot allocate" in r["error"][1] or "Unable to allocate" in r["error"][1]
    assert r["seconds"] < 2.0 and r["growth"] < GROWTH, r

"""Kernels run without the GIL, concurrent calls give serial results, and
set_num_threads reaches every CPU pool that can follow it (issue 11)."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import xpuops as xo


def test_gil_is_released_while_a_kernel_runs(rng):
    a = rng.standard_normal((640, 640))
    done = threading.Event()
    info = {}

    def worker():
        xo.matmul(a, a, device="ref", precision="fp64")
        info.update(xo.last_info())
        done.set()

    # the main thread keeps stamping the clock; holding the GIL in C would
    # freeze it for the whole kernel
    stamps = [time.perf_counter()]
    t = threading.Thread(target=worker)
    t.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    t.join()
    gaps = np.diff(stamps)
    kernel = info["kernel_s"]
    assert kernel > 0.02  # long enough to tell the two cases apart
    assert len(stamps) > 100
    assert gaps.max() < 0.5 * kernel, (gaps.max(), kernel)


def test_two_threads_run_kernels_concurrently_and_correctly(rng):
    a = rng.standard_normal((8, 48, 64)).astype(np.float32)
    b = rng.standard_normal((64, 40)).astype(np.float32)
    x = rng.standard_normal((2, 4, 12, 12)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    jobs = [
        lambda p: xo.matmul(a, b, precision=p),
        lambda p: xo.conv2d(x, w, padding=1, precision=p),
        lambda p: xo.attention(
            a[None],
            a[None],
            a[None],
            causal=True,
            precision=p if p != "int4" else "int8",
        ),
    ]
    precs = ["fp32", "bf16", "int8", "int4"]
    serial = {(j, p): jobs[j](p) for j in range(3) for p in precs}
    results, errors = {}, []
    barrier = threading.Barrier(2)

    def run(tid):
        try:
            barrier.wait()
            for rep in range(3):
                for j in range(3):
                    for p in precs:
                        results[(tid, rep, j, p)] = jobs[j](p)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    for (_tid, _rep, j, p), y in results.items():
        np.testing.assert_array_equal(y, serial[(j, p)])
    assert len(results) == 2 * 3 * 3 * 4


#: CPU devices whose kernels use a thread pool: every available, real CPU
#: device that runs fp32, except ref (single-threaded by design).
POOLED = [
    d
    for d in xo.devices()
    if d.available
    and d.kind == "cpu"
    and not d.simulated
    and d.backend != "ref"
    and "fp32" in d.precisions
]
#: the pools that follow set_num_threads (the others say why not, checked
#: in test_each_cpu_device_says_how_its_threads_are_set)
FOLLOWING = [d for d in POOLED if d.follows_threads]
#: backends whose libraries let the count change at run time: they must
#: keep following, or they would drop out of the timing test unseen
MUST_FOLLOW = ("openblas", "onednn", "openvino")

#: A 1024^3 fp32 matmul: ~2 GFLOP, 5-30 ms per call on 1-2 cores of a
#: current CPU: long enough that dispatch is noise, short enough that the
#: whole test stays within seconds.
N = 1024


def _best_gflops(device, a, b, min_s, min_repeats=5):
    """Best kernel rate of repeats filling min_s, after a warm-up call (plan,
    recompile, pages). The best of several resists other processes."""
    xo.matmul(a, b, device=device, precision="fp32")
    best, t0, n = float("inf"), time.perf_counter(), 0
    while n < min_repeats or time.perf_counter() - t0 < min_s:
        xo.matmul(a, b, device=device, precision="fp32")
        best = min(best, xo.last_info()["kernel_s"])
        n += 1
    return 2 * N**3 / best / 1e9


def _cores_available(rng):
    """Cores' worth of CPU this process gets now: the same ref work (no
    pool: one thread each, GIL released) run on one Python thread, then on
    two side by side; 2.0 on an idle 2-core machine, 1.0 when other load
    holds a core."""
    a = rng.standard_normal((160, 160), dtype=np.float32)

    def work():
        for _ in range(8):
            xo.matmul(a, a, device="ref", precision="fp32")

    def timed(threads):
        best = float("inf")
        for _ in range(3):
            ts = [threading.Thread(target=work) for _ in range(threads)]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            best = min(best, time.perf_counter() - t0)
        return best

    return 2 * timed(1) / timed(2)


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2,
    reason="this machine gives the process one core: 1 thread cannot be told from 2",
)
@pytest.mark.parametrize("dev", FOLLOWING, ids=lambda d: d.name)
def test_set_num_threads_reaches_the_device(dev, rng):
    a = rng.standard_normal((N, N), dtype=np.float32)
    b = rng.standard_normal((N, N), dtype=np.float32)
    old = xo.get_num_threads()
    tries = []
    try:
        # other processes on a shared machine can hold a core for a whole
        # phase: a device that follows passes on a retry with a longer
        # window, one that does not fails every time
        for window in (0.15, 0.3, 0.6, 0.6):
            rates = []
            for t in (2, 1, 2):
                xo.set_num_threads(t)
                rates.append(_best_gflops(dev.name, a, b, min_s=window))
            tries.append(rates)
            two, one, again = rates
            if two / one >= 1.3 and abs(again / two - 1) <= 0.15:
                break
        else:
            time.sleep(0.3)  # pools that spin after a call go idle first
            cores = _cores_available(rng)
            if cores < 1.5:  # the hardware this process gets has one core
                pytest.skip(
                    f"the CPUs give this process {cores:.1f} cores now (two "
                    "threads of ref side by side; another process holds the "
                    f"second): 1 thread cannot be told from 2. {dev.name} at "
                    f"2, 1, 2 threads: {tries} GFLOPS"
                )
            pytest.fail(
                f"{dev.name}: GFLOPS at 2, 1, 2 threads, each try: {tries}; "
                "1 thread must be >= 1.3x slower than 2, and 2 again within "
                "15% of the first"
            )
    finally:
        xo.set_num_threads(old)


def test_openvino_cpu_recompiles_for_a_new_thread_count(rng):
    # openvino is a dependency: its CPU device must be here (the sanitizer
    # run, which cannot host it, deselects this test by name)
    assert "openvino:CPU" in {d.name for d in FOLLOWING}
    a = rng.standard_normal((32, 48), dtype=np.float32)
    old = xo.get_num_threads()
    try:
        xo.set_num_threads(1)
        xo.matmul(a, a.T, device="openvino:CPU")
        xo.matmul(a, a.T, device="openvino:CPU")
        assert xo.last_info()["plan_s"] == 0  # compiled once for 1 thread
        assert "INFERENCE_NUM_THREADS=1" in xo.last_info()["impl"]
        xo.set_num_threads(2)
        xo.matmul(a, a.T, device="openvino:CPU")
        info = xo.last_info()
        assert info["plan_s"] > 0 and info["plan_created"]  # the recompile
        assert "INFERENCE_NUM_THREADS=2" in info["impl"]
    finally:
        xo.set_num_threads(old)


def test_each_cpu_device_says_how_its_threads_are_set():
    for d in xo.devices():
        if d.available and d.kind == "cpu" and not d.simulated:
            assert d.threads, d.name
            if not d.follows_threads:  # never silently: the note says so
                assert "does not follow" in d.threads or "single-threaded" in (
                    d.threads
                ), d
    ref = next(d for d in xo.devices() if d.name == "ref")
    assert not ref.follows_threads
    for d in POOLED:
        if d.backend in MUST_FOLLOW:
            assert d.follows_threads, d


def _import_env(env):
    code = (
        "import os, json, xpuops as xo; print(json.dumps([xo.environment, "
        "{k: os.environ.get(k) for k in xo.environment}, "
        "{d.name: d.threads for d in xo.devices() if d.available}]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)


def test_import_environment_is_visible_and_a_users_setting_kept():
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT")
    }
    published, environ, threads = _import_env(base)
    assert published == {
        "OPENBLAS_THREAD_TIMEOUT": ["4", "xpuops"],
        "GOMP_SPINCOUNT": ["10000", "xpuops"],
    }
    assert environ == {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "10000"}
    if "openblas" in threads:
        assert "OPENBLAS_THREAD_TIMEOUT=4 (set by xpuops" in threads["openblas"]
    if "onednn" in threads:
        assert "GOMP_SPINCOUNT=10000 (set by xpuops" in threads["onednn"]
    published, environ, threads = _import_env({**base, "GOMP_SPINCOUNT": "77"})
    assert published["GOMP_SPINCOUNT"] == ["77", "user"]
    assert environ["GOMP_SPINCOUNT"] == "77"  # never overwritten
    if "onednn" in threads:
        assert "GOMP_SPINCOUNT=77 (the user's, kept)" in threads["onednn"]

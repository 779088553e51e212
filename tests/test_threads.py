"""Kernels run without the GIL, and concurrent calls give serial results."""

import threading
import time

import numpy as np
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

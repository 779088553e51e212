"""xpuops as a pytest plugin: regression benchmarks of ops on devices.

Loaded automatically (entry point ``pytest11``) wherever xpuops is
installed. A benchmark is a test that uses the ``xpu_bench`` fixture:

    def test_llm_decode_int8(xpu_bench):
        xpu_bench(xo.matmul, a, w, device="onednn", precision="int8")

Options:
    --xpu-save NAME        store this run's results as baseline NAME
    --xpu-compare NAME     fail tests that regressed against baseline NAME
    --xpu-threshold 0.10   allowed throughput drop (per benchmark: threshold=)
    --xpu-sqnr-drop 3      allowed SQNR drop in dB
    --xpu-dir DIR          where baselines live (.xpuops-benchmarks)
    --xpu-any-machine      compare with a baseline from another machine
    --xpu-quick            only benchmarks marked ``xpu_quick`` (and not
                           ``xpu_slow``): the one-minute subset

Noise: each figure is the *best* kernel time over repeats filling
``min_time`` (0.2 s; the fastest repeat is the one least disturbed by
other work). The noise of that minimum is measured with the baseline as
the gap between its best and its 10th-percentile repeat, in the baseline
and in this run; the allowed drop is the larger of the threshold and twice
the larger gap, capped at 50 %, so a
noisy benchmark does not fail on noise alone and a real slowdown still
does. Integer results of exact devices are fingerprinted (a hash of the
output): any change fails the test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

_STATE = {"records": {}, "baseline": None, "regressions": []}
#: Fingerprint fields that must match for results to be comparable.
SAME_MACHINE = (
    "machine_cpu",
    "machine_isa",
    "machine_cores",
    "machine_threads",
    "machine_libraries",
)


def pytest_addoption(parser):
    g = parser.getgroup("xpuops", "xpuops regression benchmarks")
    g.addoption("--xpu-save", metavar="NAME", help="store results as NAME")
    g.addoption(
        "--xpu-compare",
        metavar="NAME",
        help="fail on regressions against baseline NAME",
    )
    g.addoption(
        "--xpu-threshold",
        type=float,
        default=0.10,
        help="allowed throughput drop (fraction, default 0.10)",
    )
    g.addoption(
        "--xpu-sqnr-drop",
        type=float,
        default=3.0,
        help="allowed SQNR drop in dB (default 3)",
    )
    g.addoption(
        "--xpu-dir",
        default=".xpuops-benchmarks",
        help="directory of baselines (default .xpuops-benchmarks)",
    )
    g.addoption(
        "--xpu-any-machine",
        action="store_true",
        help="compare with a baseline from another machine anyway",
    )
    g.addoption(
        "--xpu-quick", action="store_true", help="run only benchmarks marked xpu_quick"
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "xpu_quick: part of the quick subset")
    config.addinivalue_line("markers", "xpu_slow: never part of the quick subset")
    _STATE.update(records={}, baseline=None, regressions=[])
    name = config.getoption("--xpu-compare", default=None)
    if not name:
        return
    path = Path(config.getoption("--xpu-dir")) / f"{name}.json"
    if not path.exists():
        raise pytest.UsageError(
            f"no baseline {name!r}: {path} does not exist; "
            f"make one with --xpu-save {name}"
        )
    base = json.loads(path.read_text())
    from .measuring.compare import machine_fingerprint

    here = machine_fingerprint()
    differs = [k for k in SAME_MACHINE if base["machine"].get(k) != here.get(k)]
    if differs and not config.getoption("--xpu-any-machine"):
        lines = "\n".join(
            f"  {k}: baseline {base['machine'].get(k)!r} vs here {here.get(k)!r}"
            for k in differs
        )
        raise pytest.UsageError(
            f"baseline {name!r} was measured on another machine:\n{lines}\n"
            "its figures say nothing about this one; pass --xpu-any-machine "
            "to compare anyway"
        )
    _STATE["baseline"] = base


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--xpu-quick"):
        return
    keep = [
        i
        for i in items
        if i.get_closest_marker("xpu_quick") and not i.get_closest_marker("xpu_slow")
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def _digest(y) -> str | None:
    return hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()[:16]


@pytest.fixture
def xpu_bench(request, benchmark):
    """Measure an xpuops op like xo.measure and record it for regression
    checks; returns the Measurement. Timing goes through pytest-benchmark
    (its table shows the calls), the figures through xo.measure."""
    from .api.devices import resolve
    from .measuring.measure import measure

    def run(
        op, *args, device="cpu", precision=None, threshold=None, min_time=0.2, **kw
    ):
        m = measure(
            op, *args, device=device, precision=precision, min_time=min_time, **kw
        )
        out = op(*args, device=m.device, precision=m.precision, **kw)
        benchmark.pedantic(
            op,
            args=args,
            kwargs=dict(kw, device=m.device, precision=m.precision),
            rounds=3,
            iterations=1,
        )
        exact = resolve(m.device).exact_integer and m.precision in ("int8", "int4")
        rec = {
            "throughput": m.throughput.ops_per_s,
            "throughput_str": str(m.throughput),
            "unit": m.throughput.unit,
            "precision": m.precision,
            "device": m.device,
            "source": m.source,
            "kernel_min_s": m.kernel_min_s,
            "spread": m.spread,
            # noise of the best time: best vs the 10th-percentile repeat
            "best_noise": float(np.percentile(m.kernel_s, 10) / m.kernel_min_s - 1),
            "sqnr_db": m.errors["sqnr_db"] if m.errors else None,
            "impl": m.impl,
            "digest": _digest(out) if exact else None,
            "threshold": threshold,
        }
        benchmark.extra_info.update(rec)
        key = request.node.nodeid
        _STATE["records"][key] = rec
        _check(request.config, key, rec)
        return m

    return run


def _check(config, key, rec):
    base = _STATE["baseline"]
    if base is None:
        return
    old = base["results"].get(key)
    if old is None:
        return  # a new benchmark: nothing to compare yet
    problems = []
    # the threshold, or twice the noise of the baseline's best time if that
    # is larger; capped, so a real slowdown always shows
    allowed = min(
        0.5,
        max(
            rec["threshold"] or config.getoption("--xpu-threshold"),
            2 * max(old.get("best_noise") or 0, rec["best_noise"]),
        ),
    )
    ratio = rec["throughput"] / old["throughput"]
    if ratio < 1 - allowed:
        problems.append(
            (
                "throughput",
                old["throughput_str"],
                rec["throughput_str"],
                f"{ratio - 1:+.0%} (allowed -{allowed:.0%})",
            )
        )
    drop = config.getoption("--xpu-sqnr-drop")
    if (
        old["sqnr_db"] is not None
        and rec["sqnr_db"] is not None
        and rec["sqnr_db"] < old["sqnr_db"] - drop
    ):
        problems.append(
            (
                "SQNR",
                f"{old['sqnr_db']:.1f} dB",
                f"{rec['sqnr_db']:.1f} dB",
                f"{rec['sqnr_db'] - old['sqnr_db']:+.1f} dB (allowed -{drop:g} dB)",
            )
        )
    if old.get("digest") and rec["digest"] != old["digest"]:
        problems.append(
            ("integer result", old["digest"], rec["digest"], "no longer bit-exact")
        )
    if problems:
        _STATE["regressions"].append((key, problems))
        rows = "\n".join(
            f"  {what:15s} {a:>22s} -> {b:<22s} {how}" for what, a, b, how in problems
        )
        pytest.fail(
            f"regression against baseline ({rec['device']}, "
            f"{rec['precision']}):\n{rows}",
            pytrace=False,
        )


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    name = config.getoption("--xpu-save", default=None)
    if name and _STATE["records"]:
        from .measuring.compare import machine_fingerprint

        d = Path(config.getoption("--xpu-dir"))
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name}.json"
        path.write_text(
            json.dumps(
                {"machine": machine_fingerprint(), "results": _STATE["records"]},
                indent=1,
            )
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    regs = _STATE["regressions"]
    name = config.getoption("--xpu-save", default=None)
    if name and _STATE["records"]:
        terminalreporter.write_line(
            f"xpuops: {len(_STATE['records'])} results saved as baseline {name!r}"
        )
    if _STATE["baseline"] is not None:
        terminalreporter.section("xpuops regressions")
        if not regs:
            terminalreporter.write_line("none: every benchmark within its threshold")
        for key, problems in regs:
            terminalreporter.write_line(key)
            for what, a, b, how in problems:
                terminalreporter.write_line(f"  {what:15s} {a:>22s} -> {b:<22s} {how}")

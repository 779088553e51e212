"""xpuops as a pytest plugin: regression benchmarks of ops on devices.

Loaded automatically (entry point ``pytest11``) wherever xpuops is
installed. A benchmark is a test that uses the ``xpu_bench`` fixture:

    def test_llm_decode_int8(xpu_bench):
        xpu_bench(xo.matmul, a, w, device="onednn", precision="int8")

Options:
    --xpu-save NAME         store this run's results as baseline NAME
    --xpu-compare NAME      fail tests that regressed against baseline NAME
    --xpu-threshold 0.10    allowed slowdown (per benchmark: threshold=)
    --xpu-max-allowed 0.15  the most a noisy baseline may widen it to
    --xpu-retries 3         re-measurements of a suspected regression
    --xpu-quiet-wait 5      seconds a benchmark may wait for a quiet machine
    --xpu-accept-missing    let baseline entries missing from the run pass
    --xpu-accept-changed    let a changed device or implementation pass
    --xpu-sqnr-drop 3       allowed SQNR drop in dB
    --xpu-dir DIR           where baselines live (.xpuops-benchmarks)
    --xpu-any-machine       compare with a baseline from another machine
    --xpu-quick             only benchmarks marked ``xpu_quick`` (and not
                            ``xpu_slow``): the one-minute subset

What is gated: four times per benchmark, each against the baseline's: the
best and the median kernel time, and the best and the median end-to-end
call time (quantization, conversion and copies included). A figure fails
when it is slower than the baseline's by more than the allowed drop of
throughput: the threshold, or twice the baseline's own noise of that
statistic if larger (best: its 10th-percentile repeat against its best;
median: half its p10-p90 spread), capped at --xpu-max-allowed, so a 1.25x
slowdown (a 20 % drop) fails whatever the noise. Noise is taken from the
baseline only, never from the run under test: a regression that also makes
timings erratic cannot excuse itself. A suspected regression is measured
again (--xpu-retries) and fails only if every measurement regressed: a
burst of load from another process passes, a slower kernel does not.

Also failing: a baseline entry whose test function ran but which recorded
no result (a precision a device stopped declaring, a device that vanished),
and a changed device or implementation string (what ran is not what was
measured); integer results of exact devices are fingerprinted (a hash of
the output) and any change fails; SQNR may not drop by more than
--xpu-sqnr-drop. Every compared benchmark's ratios and allowed drops are
printed, for passing runs too, and a baseline whose repeats spread more
than 20 % or split in two is flagged noisy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ..api.devices import resolve
from ..measuring.compare import machine_fingerprint
from ..measuring.measure import measure

_STATE = {
    "records": {},
    "baseline": None,
    "regressions": [],
    "compared": [],
    "collected": set(),
    "deselected": set(),
    "missing": [],
    "machine": None,
    "baseline_name": None,
}
#: Fingerprint fields that must match for results to be comparable.
SAME_MACHINE = (
    "machine_cpu",
    "machine_isa",
    "machine_cores",
    "machine_threads",
    "machine_libraries",
)
#: The gated statistics: (name, record key of the time, record key of the
#: baseline's noise of that statistic).
GATED = (
    ("kernel best", "kernel_min_s", "kernel_best_noise"),
    ("kernel median", "kernel_median_s", "kernel_median_noise"),
    ("call best", "e2e_min_s", "e2e_best_noise"),
    ("call median", "e2e_median_s", "e2e_median_noise"),
)
#: A baseline whose repeats spread more than this is flagged noisy.
NOISY_SPREAD = 0.20


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
        "--xpu-max-allowed",
        type=float,
        default=0.15,
        help="the most a noisy baseline may widen the allowed drop to "
        "(default 0.15: a 1.25x slowdown always fails)",
    )
    g.addoption(
        "--xpu-retries",
        type=int,
        default=3,
        help="re-measurements of a suspected regression (default 3)",
    )
    g.addoption(
        "--xpu-quiet-wait",
        type=float,
        default=5.0,
        help="seconds a benchmark may wait, in all, for other processes to "
        "leave the CPUs before its baseline measurements or re-measurements "
        "(default 5)",
    )
    g.addoption(
        "--xpu-accept-missing",
        action="store_true",
        help="let baseline entries missing from this run pass",
    )
    g.addoption(
        "--xpu-accept-changed",
        action="store_true",
        help="let a changed device or implementation string pass",
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
    _STATE.update(
        records={},
        baseline=None,
        regressions=[],
        compared=[],
        collected=set(),
        deselected=set(),
        missing=[],
    )
    name = config.getoption("--xpu-compare", default=None)
    if not name:
        return
    path = Path(config.getoption("--xpu-dir")) / f"{name}.json"
    if not path.exists():
        raise pytest.UsageError(
            f"no baseline {name!r}: {path} does not exist; "
            f"make one with --xpu-save {name}"
        )
    _STATE["baseline"] = json.loads(path.read_text())
    _STATE["baseline_name"] = name


def pytest_collection_finish(session):
    # who measures, once the benchmark modules are imported (they may set
    # the thread count): saved with a baseline, checked against one
    base = _STATE["baseline"]
    if base is None and not session.config.getoption("--xpu-save", default=None):
        return

    here = _STATE["machine"] = machine_fingerprint()
    if base is None:
        return
    differs = [k for k in SAME_MACHINE if base["machine"].get(k) != here.get(k)]
    if differs and not session.config.getoption("--xpu-any-machine"):
        lines = "\n".join(
            f"  {k}: baseline {base['machine'].get(k)!r} vs here {here.get(k)!r}"
            for k in differs
        )
        pytest.exit(
            f"baseline {_STATE['baseline_name']!r} was measured on another "
            f"machine:\n{lines}\nits figures say nothing about this one; pass "
            "--xpu-any-machine to compare anyway",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # every collected test, before -k or --xpu-quick deselect any: a
    # baseline entry of a function that was collected must have a result
    _STATE["collected"].update(i.nodeid for i in items)
    if not config.getoption("--xpu-quick"):
        return
    keep = [
        i
        for i in items
        if i.get_closest_marker("xpu_quick") and not i.get_closest_marker("xpu_slow")
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def pytest_deselected(items):
    _STATE["deselected"].update(i.nodeid for i in items)


def _cpu_ticks():
    """(busy ticks of the machine, ticks of this process, all ticks) from
    /proc, or None where there is no /proc."""
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        mine = int(fields[11]) + int(fields[12])  # utime, stime
        return sum(vals) - vals[3] - vals[4], mine, sum(vals)
    except (OSError, ValueError, IndexError):
        return None


def _others_share(t0, t1) -> float:
    """Share of the machine's CPU time other processes (and the hypervisor:
    steal) used between two _cpu_ticks() readings."""
    if t0 is None or t1 is None or t1[2] <= t0[2]:
        return 0.0
    return max(0, (t1[0] - t0[0]) - (t1[1] - t0[1])) / (t1[2] - t0[2])


#: Other processes using less than this share of the CPUs: a quiet machine.
#: (On a 2-vCPU VM whose vCPUs share a core, a busy sibling slowed a
#: single-threaded kernel by 45 %; a few % of background work did not.)
QUIET = 0.05


def _wait_quiet(deadline) -> float:
    """Wait (until ``deadline``, a time.monotonic() value) for other
    processes to leave the CPUs alone for a quarter of a second; returns the share
    they used in the last window."""
    import time

    while True:
        t0 = _cpu_ticks()
        time.sleep(0.25)
        share = _others_share(t0, _cpu_ticks())
        if share < QUIET or time.monotonic() >= deadline:
            return share


def _digest(y) -> str | None:
    return hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()[:16]


def _noisy(times) -> str | None:
    """Why a set of repeats is noisy (spread over NOISY_SPREAD, or two
    clusters: the largest gap between sorted repeats is over 10 % of the
    median with at least a fifth of them on each side), or None."""
    t = np.sort(np.asarray(times, np.float64))
    if t.size < 5:
        return None
    med = float(np.median(t))
    spread = float((np.percentile(t, 90) - np.percentile(t, 10)) / med)
    if spread > NOISY_SPREAD:
        return f"spread {spread:.0%}"
    # a gap with at least a fifth of the repeats on each side
    k = t.size // 5
    inner = np.diff(t)[k - 1 : t.size - k]
    j = k - 1 + int(np.argmax(inner))
    if t[j + 1] - t[j] > 0.10 * med:
        return f"bimodal ({t[j] * 1e3:.3g} ms | {t[j + 1] * 1e3:.3g} ms)"
    return None


def _stats(prefix, times) -> dict:
    t = np.asarray(times, np.float64)
    lo, p10, med, p90 = (float(np.percentile(t, q)) for q in (0, 10, 50, 90))
    return {
        f"{prefix}_min_s": lo,
        f"{prefix}_median_s": med,
        f"{prefix}_best_noise": p10 / lo - 1 if lo > 0 else 0.0,
        f"{prefix}_median_noise": (p90 - p10) / (2 * med) if med > 0 else 0.0,
        f"{prefix}_repeats": int(t.size),
    }


def _record(m, exact, out, threshold, contention=0.0) -> dict:
    rec = {
        "contention": contention,
        "throughput": m.throughput.ops_per_s,
        "throughput_str": str(m.throughput),
        "unit": m.throughput.unit,
        "precision": m.precision,
        "device": m.device,
        "source": m.source,
        "timing": getattr(m, "timing", None),
        "impl": m.impl,
        "spread": m.spread,
        "plan_s": m.plan_s,
        "first_call_s": m.first_call_s,
        "sqnr_db": m.errors["sqnr_db"] if m.errors else None,
        "digest": _digest(out) if exact else None,
        "threshold": threshold,
        **_stats("kernel", m.kernel_s),
        **_stats("e2e", m.wall_s),
    }
    rec["best_noise"] = rec["kernel_best_noise"]  # the name older baselines used
    rec["noisy"] = _noisy(m.kernel_s) or _noisy(m.wall_s)
    return rec


def _merge(rec, again) -> dict:
    """The better of two measurements of the same benchmark, per gated
    statistic: a regression must show in every measurement."""
    out = dict(rec)
    for _, key, noise in GATED:
        if again.get(key) and again[key] < out[key]:
            out[key], out[noise] = again[key], again[noise]
    out["best_noise"] = out["kernel_best_noise"]
    out["noisy"] = rec["noisy"] and again["noisy"]  # a quiet measurement exists
    out["contention"] = min(rec["contention"], again["contention"])
    if again["throughput"] > out["throughput"]:
        out["throughput"] = again["throughput"]
        out["throughput_str"] = again["throughput_str"]
    return out


@pytest.fixture
def xpu_bench(request):
    """Measure an xpuops op like xo.measure and record it for regression
    checks; returns the Measurement. The figures come from xo.measure; where
    pytest-benchmark is installed (``pip install 'xpuops[bench]'``) the
    calls also appear in its table, whose OPS column is calls per second,
    not TOPS."""
    benchmark = (
        request.getfixturevalue("benchmark")
        if request.config.pluginmanager.hasplugin("pytest_benchmark")
        or request.config.pluginmanager.hasplugin("benchmark")
        else None
    )

    def run(
        op, *args, device="cpu", precision=None, threshold=None, min_time=0.2, **kw
    ):
        import time

        config = request.config
        saving = config.getoption("--xpu-save", default=None)
        deadline = time.monotonic() + config.getoption("--xpu-quiet-wait")

        def measured(accuracy=True, **where):
            # how much of the machine other processes took meanwhile
            t0 = _cpu_ticks()
            m = measure(op, *args, min_time=min_time, accuracy=accuracy, **where, **kw)
            return m, _others_share(t0, _cpu_ticks())

        if saving:  # a baseline is measured on a quiet machine where possible
            _wait_quiet(deadline)
        m, contention = measured(device=device, precision=precision)
        out = op(*args, device=m.device, precision=m.precision, **kw)
        if benchmark is not None:
            benchmark.pedantic(
                op,
                args=args,
                kwargs=dict(kw, device=m.device, precision=m.precision),
                rounds=3,
                iterations=1,
            )
        exact = resolve(m.device).exact_integer and m.precision in ("int8", "int4")
        rec = _record(m, exact, out, threshold, contention)
        key = request.node.nodeid
        problems, rows = _check(config, key, rec)
        retries = config.getoption("--xpu-retries")
        # a baseline is the best of 1 + retries measurements (statistic by
        # statistic), as a compared run is when it looks slower, each after
        # waiting for other processes to leave the CPUs: a burst of load
        # makes neither side look slow, a slower kernel stays slower
        again_n = retries if (saving or _timing_only(problems)) else 0
        for _ in range(again_n):
            _wait_quiet(deadline)
            again, contention = measured(
                accuracy=False, device=m.device, precision=m.precision
            )
            rec = _merge(rec, _record(again, False, out, threshold, contention))
            problems, rows = _check(config, key, rec)
            if not problems and not saving:
                break
        if problems and rec["contention"] >= QUIET:
            problems.append(
                (
                    "contended",
                    "",
                    f"{rec['contention']:.0%} of CPUs",
                    "other processes used the CPUs during every measurement",
                )
            )
        if benchmark is not None:
            benchmark.extra_info.update(rec)
        _STATE["records"][key] = rec
        if rows:
            _STATE["compared"].append((key, rows))
        if problems:
            _STATE["regressions"].append((key, problems))
            table = "\n".join(
                f"  {what:15s} {a:>22s} -> {b:<22s} {how}"
                for what, a, b, how in problems
            )
            pytest.fail(
                f"regression against baseline ({rec['device']}, "
                f"{rec['precision']}):\n{table}",
                pytrace=False,
            )
        return m

    return run


def _timing_only(problems) -> bool:
    """Problems a re-measurement can clear: slower timings only."""
    return bool(problems) and all(
        p[0] in {g[0] for g in GATED} | {"contended"} for p in problems
    )


def _ms(s) -> str:
    return f"{s * 1e3:.4g} ms"


def _check(config, key, rec):
    """(problems, rows): what regressed against the baseline, and one row per
    gated statistic (name, ratio, allowed) for the summary."""
    base = _STATE["baseline"]
    if base is None:
        return [], []
    old = base["results"].get(key)
    if old is None:
        return [], []  # a new benchmark: nothing to compare yet
    problems, rows = [], []
    threshold = rec["threshold"] or config.getoption("--xpu-threshold")
    cap = config.getoption("--xpu-max-allowed")
    for name, tkey, nkey in GATED:
        if not old.get(tkey):
            continue  # a baseline from before this statistic was kept
        noise = old.get(nkey) or 0.0
        allowed = min(cap, max(threshold, 2 * noise))
        ratio = old[tkey] / rec[tkey]  # > 1: faster than the baseline
        rows.append((name, ratio, allowed))
        if ratio < 1 - allowed:
            problems.append(
                (
                    name,
                    _ms(old[tkey]),
                    _ms(rec[tkey]),
                    f"{ratio - 1:+.0%} throughput (allowed -{allowed:.0%})",
                )
            )
    if not config.getoption("--xpu-accept-changed"):
        for what in ("device", "impl"):
            if old.get(what) is not None and old[what] != rec[what]:
                problems.append(
                    (
                        f"{what} changed",
                        str(old[what])[:22],
                        str(rec[what])[:22],
                        f"was {old[what]!r}, now {rec[what]!r} "
                        "(--xpu-accept-changed to accept)",
                    )
                )
    drop = config.getoption("--xpu-sqnr-drop")
    if (
        old.get("sqnr_db") is not None
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
    return problems, rows


def _missing(config) -> list:
    """Baseline entries of test functions collected in this session (and not
    deselected) that recorded no result."""
    base = _STATE["baseline"]
    if base is None:
        return []
    functions = {k.split("[")[0] for k in _STATE["collected"]}
    return sorted(
        k
        for k in base["results"]
        if k.split("[")[0] in functions
        and k not in _STATE["deselected"]
        and k not in _STATE["records"]
    )


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    missing = _missing(config)
    _STATE["missing"] = missing
    if missing and not config.getoption("--xpu-accept-missing"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    name = config.getoption("--xpu-save", default=None)
    if name and _STATE["records"]:
        d = Path(config.getoption("--xpu-dir"))
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name}.json"
        path.write_text(
            json.dumps(
                {"machine": _STATE["machine"], "results": _STATE["records"]},
                indent=1,
            )
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    w = terminalreporter.write_line
    if _STATE["records"] and config.pluginmanager.hasplugin("benchmark"):
        w(
            "xpuops: in pytest-benchmark's table above, OPS is calls per second "
            "(1 / mean), not TOPS; the xpuops figures (INT8 TOPS, FP32 TFLOPS) "
            "are in the saved results and `xpuops report`"
        )
    regs = _STATE["regressions"]
    name = config.getoption("--xpu-save", default=None)
    if name and _STATE["records"]:
        w(f"xpuops: {len(_STATE['records'])} results saved as baseline {name!r}")
        for key, rec in sorted(_STATE["records"].items()):
            if rec.get("noisy"):
                w(f"  noisy: {key}: {rec['noisy']} (gates loosely when compared)")
    base = _STATE["baseline"]
    if base is None:
        return
    terminalreporter.section("xpuops regression gate")
    threshold = config.getoption("--xpu-threshold")
    cap = config.getoption("--xpu-max-allowed")
    w(
        f"ratio = baseline time / this run's (< 1: slower); allowed drop = "
        f"max({threshold:.0%}, 2 x the baseline's noise), at most {cap:.0%}"
    )
    for key, rows in _STATE["compared"]:
        cells = "  ".join(f"{n} {r:.2f} (-{a:.0%})" for n, r, a in rows)
        w(f"{key}: {cells}")
        noisy = base["results"].get(key, {}).get("noisy")
        if noisy:
            w(
                f"  warning: the baseline is noisy ({noisy}); re-save it on a "
                "quiet machine"
            )
    for key in _STATE["missing"]:
        how = "accepted" if config.getoption("--xpu-accept-missing") else "FAILED"
        w(
            f"missing: {key}: in the baseline, no result in this run ({how}; "
            "--xpu-accept-missing to accept)"
        )
    if not regs and not _STATE["missing"]:
        w("none regressed: every benchmark within its allowed drop")
    for key, problems in regs:
        w(f"regressed: {key}")
        for what, a, b, how in problems:
            w(f"  {what:15s} {a:>22s} -> {b:<22s} {how}")

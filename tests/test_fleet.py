"""Fleets (xpuops.fleet): the suite on a Dask cluster's machines, merged
into one table; a worker lost mid-run; resuming; TLS.

The [fleet] packages are imported directly: they are in the [test] extra,
so a missing one is an error here, never a skip. The cluster is local: two
worker processes labelled as two hosts (XPUOPS_HOST_LABEL). Both run on this
machine with one fingerprint, so they are one machine whose suite the two
hosts share. The quick suite is shrunk (sizes / 16) and timed briefly:
these tests check the fleet, not the figures."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import time

import cryptography  # noqa: F401  (the [fleet] extra: an error when missing)
import dask  # noqa: F401
import pandas as pd
import pyarrow  # noqa: F401
import pytest
import xpuops as xo
from distributed import Client, LocalCluster
from xpuops.fleet import cli as fleet_cli
from xpuops.fleet import suite, summary, table, tls
from xpuops.fleet.host import IDENTITY, chip_of, host_label, machine_id
from xpuops.tools import cli

HOSTS = ("lab-a", "lab-b")
DEVICES = ["ref", "openblas"]  # openblas runs no int8 on any machine
PRECISIONS = ["fp32", "int8"]
FAST = dict(shrink=16, min_time=0.005, insecure_local=True)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes (one thread each, the
    xpuops-host resource), labelled lab-a and lab-b, on loopback."""
    c = LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        resources={"xpuops-host": 1},
    )
    for label in HOSTS:
        spec = copy.deepcopy(c.new_spec)
        spec["options"]["env"] = {"XPUOPS_HOST_LABEL": label}
        spec["options"]["name"] = label
        c.worker_spec[label] = spec
    c.scale(len(HOSTS))
    client = Client(c)
    client.wait_for_workers(len(HOSTS), timeout=60)
    yield client
    client.close()
    c.close()


@pytest.fixture(scope="module")
def fleet(cluster, tmp_path_factory):
    """The quick suite on ref and openblas over both hosts, timed against
    the same cases measured directly in this process."""
    t0 = time.monotonic()
    df = xo.fleet.run(cluster, "quick", DEVICES, PRECISIONS, **FAST)
    fleet_s = time.monotonic() - t0
    path = tmp_path_factory.mktemp("fleet") / "fleet.parquet"
    xo.fleet.write(df, path)
    return df, path, fleet_s


def _keys(df):
    return [table.key_of(r) for r in df.to_dict("records")]


def test_merged_table_has_both_hosts_and_every_key_once(fleet):
    df, path, _ = fleet
    back = xo.fleet.read(path)  # through Parquet (pyarrow)
    keys = _keys(back)
    assert len(keys) == len(set(keys))
    cases = suite.cases("quick", shrink=16)
    # every case x device x precision of the suite's grid is a row
    want = {
        (c.op, c.shape, d, p, c.options(p))
        for c in cases
        for d in DEVICES
        for p in PRECISIONS
        if p in c.precisions
    }
    assert {k[1:] for k in keys} == want
    assert back["machine"].nunique() == 1  # one fingerprint: one machine
    ok = back[back["status"] == "measured"]
    assert set(ok["host"]) == set(HOSTS)  # the two hosts shared the work
    # ref runs everything it is given; openblas int8 is unsupported, named
    ref = back[back["device"] == "ref"]
    assert (ref["status"] == "measured").all(), ref[["shape", "reason"]]
    ob8 = back[(back["device"] == "openblas") & (back["precision"] == "int8")]
    assert len(ob8) and (ob8["status"] == "unsupported").all()
    assert ob8["reason"].str.contains("does not run int8").all()
    # the record's fields and the fingerprint, per row
    for col in ("throughput", "unit", "kernel_min_s", "call_min_s", "sqnr_db"):
        assert ok[col].notna().all(), col
    assert set(ok["source"]) == {"measured"}
    assert ok["noisy"].isin([True, False]).all()
    assert set(ok["unit"]) == {"TFLOPS", "TOPS"}
    assert (ok[ok["precision"] == "int8"]["unit"] == "TOPS").all()
    for k in IDENTITY:
        assert ok[k].nunique() == 1, k
    # results hold no paths or user names
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    text = back.astype(str).to_csv()
    assert os.getcwd() not in text and str(path.parent) not in text
    if user and len(user) > 3:
        assert user not in text


def test_rows_carry_the_measurement_of_their_key(fleet):
    df, _, _ = fleet
    ok = df[df["status"] == "measured"]
    for r in ok.to_dict("records"):
        # throughput is the kernel rate of the row's own operation count
        assert r["throughput"] == pytest.approx(r["ops"] / r["kernel_min_s"])
        assert r["sustained"] == pytest.approx(r["ops"] / r["kernel_median_s"])
        assert r["throughput_str"].split()[1] == r["precision"].upper()
    ints = ok[ok["precision"] == "int8"]
    assert ints["digest"].notna().all()  # ref is exact: results hashed


def test_fleet_report_and_xpuops_report_read_the_table(fleet, tmp_path, capsys):
    _, path, fleet_s = fleet
    png, page = tmp_path / "fleet.png", tmp_path / "fleet.html"
    assert (
        cli.main(
            ["fleet", "report", str(path), "--plot", str(png), "--html", str(page)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "## Best sustained figure per machine and precision" in out
    assert "lab-a+lab-b" in out
    assert "chip not in xo.chips" in out or "rated" in out
    assert png.stat().st_size > 10_000 and page.read_text().startswith("<!DOCTYPE")
    assert cli.main(["report", str(path)]) == 0
    out2 = capsys.readouterr().out
    assert "lab-a+lab-b" in out2 and "[ref-int8]" in out2
    # the note's figures: the report and the fleet's time over the direct one
    report_dir = os.environ.get("XPUOPS_FLEET_REPORT_DIR")
    if report_dir:
        direct = _direct_seconds()
        os.makedirs(report_dir, exist_ok=True)
        with open(os.path.join(report_dir, "fleet-report.md"), "w") as f:
            f.write(out)
            f.write(f"\nfleet run {fleet_s:.2f} s; direct {direct:.2f} s\n")
        summary.plot_best(xo.fleet.read(path), os.path.join(report_dir, "fleet.png"))


def test_report_divides_only_within_a_precision(fleet, tmp_path):
    """A second machine made from the first's rows (every figure doubled,
    its chip named): the report's ratios are per device and precision, and
    the rated figure of another precision is labelled assumed."""
    df, _, _ = fleet
    other = df.copy()
    other["machine"], other["host"] = "m-0000000000", "lab-c"
    other["machine_chip"] = "Ryzen AI 300"
    for col in ("throughput", "sustained"):
        other[col] = other[col] * 2
    both = table.frame(pd.concat([df, other]).to_dict("records"))
    md = summary.markdown(both)
    n_measured = int((df["status"] == "measured").sum())
    assert md.count("| 2.00 |") == n_measured + 2  # per row + best per precision
    best = {(r["label"], r["precision"]): r for r in summary.best(both)}
    assert str(best["lab-c", "int8"]["rated"]) == "50 INT8 TOPS"
    assert "(assumed)" in str(best["lab-c", "fp32"]["rated"])
    assert best["lab-a+lab-b", "fp32"]["rated"] is None
    fig = summary.plot_best(both, tmp_path / "two.png")
    assert len(fig.axes) == 2  # one panel per precision, never mixed
    if os.environ.get("XPUOPS_FLEET_REPORT_DIR"):
        fig.savefig(os.path.join(os.environ["XPUOPS_FLEET_REPORT_DIR"], "two.png"))


def _direct_seconds() -> float:
    """The same cases measured one after another in this process."""
    from xpuops.fleet.worker import measure_case

    t0 = time.monotonic()
    for c in suite.cases("quick", shrink=16):
        for d in DEVICES:
            for p in PRECISIONS:
                if p in c.precisions and not (d == "openblas" and p == "int8"):
                    measure_case(c, d, p, FAST["min_time"], "hot")
    return time.monotonic() - t0


def test_a_worker_killed_mid_run_keeps_its_rows_and_resume_completes(cluster, tmp_path):
    pids = cluster.run(os.getpid)
    labels = cluster.run(host_label)
    victim = next(a for a, h in labels.items() if h == "lab-b")
    killed = []

    def kill_after_first(row):
        if row["host"] == "lab-b" and row["status"] == "measured" and not killed:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(row)

    df = xo.fleet.run(
        cluster, "quick", DEVICES, PRECISIONS, on_row=kill_after_first, **FAST
    )
    assert killed, "lab-b measured nothing before the end"
    keys = _keys(df)
    assert len(keys) == len(set(keys))
    kept = df[(df["host"] == "lab-b") & (df["status"] == "measured")]
    assert table.key_of(killed[0]) in set(_keys(kept))  # its finished rows stay
    missing = df[df["status"] == "missing"]
    assert len(missing) >= 1
    assert missing["reason"].str.contains("lab-b").all()
    assert missing["reason"].str.contains("left the cluster").all()
    assert missing["throughput"].isna().all()
    # lab-a took the rest of the machine's cases
    assert len(df[(df["host"] == "lab-a") & (df["status"] == "measured")]) > 0
    path = tmp_path / "fleet.parquet"
    xo.fleet.write(df, path)
    # the CLI refuses to overwrite; --resume measures only the missing rows
    assert (
        cli.main(
            [
                "fleet",
                "run",
                "--scheduler",
                cluster.scheduler.address,
                "--insecure-local",
                "-o",
                str(path),
            ]
        )
        == 2
    )
    cluster.wait_for_workers(len(HOSTS), timeout=60)  # the nanny restarted lab-b
    measured = []
    again = xo.fleet.run(
        cluster,
        "quick",
        DEVICES,
        PRECISIONS,
        resume=path,
        on_row=measured.append,
        **FAST,
    )
    assert {table.key_of(r) for r in measured} == set(_keys(missing))
    assert not again["status"].isin(["missing", "failed"]).any()
    assert sorted(_keys(again)) == sorted(keys)
    before = df.set_index(list(table.KEY))
    after = again.set_index(list(table.KEY))
    done = before[before["status"] == "measured"].index
    pd.testing.assert_series_equal(
        before.loc[done, "throughput"], after.loc[done, "throughput"]
    )
    # a measured row is never replaced
    with pytest.raises(ValueError, match="never replaces"):
        table.merge(again, again[again["status"] == "measured"].head(1))


def test_a_case_past_the_timeout_retires_its_host(cluster):
    slow = [suite.Case(f"slow{i}", "matmul", (64, 512, 512 + i)) for i in range(3)]
    df = xo.fleet.run(
        cluster,
        slow,
        ["ref"],
        ["fp32"],
        min_time=2.0,
        timeout=0.3,
        insecure_local=True,
    )
    assert len(df) == 3 and (df["status"] == "missing").all()
    timed_out = df[df["reason"].str.startswith("timed out")]
    assert 1 <= len(timed_out) <= 2  # the case each host was running
    assert df["reason"].str.contains("timeout|timed out").all()


def test_machine_id_keys_the_identity_fields_only():
    a = {k: "x" for k in IDENTITY}
    b = dict(a, machine_threads="y")
    assert machine_id(a) != machine_id(b)
    assert machine_id(a) == machine_id(dict(a, machine_clock_ghz=9.9))


def test_host_label_and_chip(monkeypatch):
    monkeypatch.setenv("XPUOPS_HOST_LABEL", "bad/label")
    with pytest.raises(ValueError, match="XPUOPS_HOST_LABEL"):
        host_label()
    monkeypatch.setenv("XPUOPS_HOST_LABEL", "lab-7")
    assert host_label() == "lab-7"
    fp = {
        "machine_cpu": "Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Oryon(TM) CPU",
        "machine_libraries": "",
    }
    monkeypatch.delenv("XPUOPS_HOST_CHIP", raising=False)
    assert chip_of(fp) == "Snapdragon X Elite"
    assert chip_of({"machine_cpu": "AMD EPYC 9R14", "machine_libraries": ""}) is None
    monkeypatch.setenv("XPUOPS_HOST_CHIP", "ryzen ai 300")
    assert chip_of({"machine_cpu": "x"}) == "Ryzen AI 300"
    monkeypatch.setenv("XPUOPS_HOST_CHIP", "no such chip")
    with pytest.raises(ValueError, match="XPUOPS_HOST_CHIP"):
        chip_of({})


def test_rated_figures_are_normalised_only_with_a_label():
    t, note = summary.rated("Ryzen AI 300", "int8")
    assert str(t) == "50 INT8 TOPS" and "assumed" not in str(t)
    t, note = summary.rated("Ryzen AI 300", "fp32")  # another precision
    assert t.precision == "fp32" and "(assumed)" in str(t) and "normalised" in note
    t, note = summary.rated("RTX 5090", "fp4")  # a sparse rating: halved, said
    assert t.ops_per_s == pytest.approx(3352e12 / 2) and "dense" in note
    assert summary.rated(None, "fp32") == (None, "chip not in xo.chips")


def test_suite_is_the_benchmark_suite():
    q = suite.cases("quick")
    assert [c.name for c in q if c.op == "matmul"] == [
        "llm_decode.o_proj",
        "llm_decode.mlp_down",
    ]
    assert q[0].shape == "1x4096x4096"
    assert {c.name for c in q if c.op == "conv2d"} == {
        f"conv.{n}.b1" for n in suite.CONVS
    }
    full = suite.cases("full")
    assert len(full) == 2 + len(suite.LLM) + 2 * len(suite.CONVS) + len(suite.ATTN)
    assert {c.name for c in full if c.big} >= {"llm_prefill.mlp_up"}
    for c in suite.cases("full", shrink=16):  # shrunk cases still run
        args, kw = c.operands("fp32")
        assert [a.shape for a in args] == c.operand_shapes()
    with pytest.raises(ValueError, match="suite must be"):
        suite.cases("nope")
    with pytest.raises(ValueError, match="shrink"):
        suite.cases("quick", shrink=0)


def test_cases_with_one_key_are_refused_before_measuring(cluster):
    twins = [suite.Case(n, "matmul", (2, 8, 4)) for n in ("a", "b")]
    with pytest.raises(ValueError, match="same key"):
        xo.fleet.run(cluster, twins, ["ref"], ["fp32"], insecure_local=True)


def test_suite_file(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(
        json.dumps({"cases": [{"name": "t", "op": "matmul", "dims": [2, 8, 4]}]})
    )
    (c,) = suite.cases(str(p))
    assert c.shape == "2x8x4"
    p.write_text(json.dumps({"cases": [{"op": "matmul", "dims": [2, 8]}]}))
    with pytest.raises(ValueError, match="needs 3 dims"):
        suite.cases(str(p))


def test_addresses_without_tls_are_refused():
    assert tls.check_address("tls://10.0.0.5:8786") == "tls"
    assert tls.check_address("tcp://127.0.0.1:8786", insecure_local=True) == "tcp"
    with pytest.raises(tls.InsecureAddressError, match="no TLS"):
        tls.check_address("tcp://127.0.0.1:8786")
    with pytest.raises(tls.InsecureAddressError, match="loopback only"):
        tls.check_address("tcp://10.0.0.5:8786", insecure_local=True)
    with pytest.raises(tls.InsecureAddressError, match="loopback only"):
        tls.check_address("tcp://0.0.0.0:8786", insecure_local=True)


def test_cli_refuses_a_scheduler_without_tls(tmp_path, capsys):
    argv = ["fleet", "scheduler", "--host", "0.0.0.0", "--insecure-local"]
    assert cli.main(argv) == 2
    assert "loopback only" in capsys.readouterr().err
    argv = ["fleet", "scheduler", "--certs", str(tmp_path / "none")]
    assert cli.main(argv) == 2
    assert "xpuops fleet init" in capsys.readouterr().err
    argv = ["fleet", "run", "--scheduler", "tcp://192.0.2.1:8786", "-o", "x.parquet"]
    assert cli.main(argv) == 2
    assert "no TLS" in capsys.readouterr().err


def test_a_client_without_the_fleets_certificate_is_refused(tmp_path):
    certs, other = tmp_path / "certs", tmp_path / "other"
    assert cli.main(["fleet", "init", str(certs)]) == 0
    assert cli.main(["fleet", "init", str(certs)]) == 2  # never overwritten
    assert oct((certs / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    tls.init(other)  # a CA that is not the fleet's

    async def main():
        sched = fleet_cli.scheduler(
            "127.0.0.1", 0, "tls", tls.security(certs, "scheduler")
        )
        async with sched as s:
            assert s.address.startswith("tls://127.0.0.1:")
            # the fleet's own client certificate: admitted
            async with Client(
                s.address,
                security=tls.security(certs, "client"),
                asynchronous=True,
                timeout="10s",
            ) as c:
                ident = await c.scheduler.identity()
                assert ident["address"] == s.address
            # a certificate the fleet's CA did not sign: refused
            with pytest.raises((OSError, TimeoutError)):
                await Client(
                    s.address,
                    security=tls.security(other, "client"),
                    asynchronous=True,
                    timeout="2s",
                )
            # no certificate at all, over plain TCP to the TLS port: refused
            plain = s.address.replace("tls://", "tcp://")
            with pytest.raises((OSError, TimeoutError)):
                await Client(plain, asynchronous=True, timeout="2s")
            # the HTTP side serves health only, on the scheduler's interface
            http = s.http_server
            assert http.address == "127.0.0.1"

    asyncio.run(main())


def _start(args, ready, env=None):
    """A ``python -m xpuops fleet ...`` process and the line saying it is
    ready."""
    import subprocess
    import sys

    p = subprocess.Popen(
        [sys.executable, "-m", "xpuops", "fleet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, **(env or {})),
    )
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if ready in line:
            return p, line
        seen.append(line)
        if not line and p.poll() is not None:
            break
    p.kill()
    said = "".join(seen) + p.stdout.read()
    raise AssertionError(f"xpuops fleet {args[0]} did not start: {said}")


def test_cli_scheduler_worker_and_run_over_tls(tmp_path, capsys):
    certs = tmp_path / "certs"
    assert cli.main(["fleet", "init", str(certs)]) == 0
    procs = []
    try:
        sched, line = _start(
            ["scheduler", "--certs", str(certs), "--host", "127.0.0.1", "--port", "0"],
            "xpuops fleet scheduler at",
        )
        procs.append(sched)
        addr = line.split(" at ")[1].strip()
        assert addr.startswith("tls://127.0.0.1:")
        worker, _ = _start(
            ["worker", addr, "--certs", str(certs), "--label", "cli-host"],
            "xpuops fleet worker cli-host",
        )
        procs.append(worker)
        cases = tmp_path / "suite.json"
        cases.write_text(
            json.dumps(
                {"cases": [{"name": "tiny", "op": "matmul", "dims": [2, 16, 8]}]}
            )
        )
        out = tmp_path / "cli.parquet"
        argv = ["fleet", "run", "--scheduler", addr, "--certs", str(certs),
                "--suite", str(cases), "--devices", "ref", "--precisions",
                "fp32,int8", "--min-time", "0.005", "-o", str(out)]  # fmt: skip
        assert cli.main(argv) == 0
        text = capsys.readouterr().out
        assert "cli-host  matmul 2x16x8 ref int8:" in text
        df = xo.fleet.read(out)
        assert set(df["status"]) == {"measured"} and set(df["host"]) == {"cli-host"}
        assert len(df) == 2
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def test_run_arguments_take_the_usual_spellings_and_refuse_the_rest():
    from xpuops.fleet.sweep import _check_devices

    assert _check_devices(["ref"], "INT8,float32") == (["ref"], ["int8", "fp32"])
    with pytest.raises(TypeError, match="list of device names"):
        _check_devices(123, None)
    with pytest.raises(ValueError, match="alias"):
        _check_devices(["cpu"], None)

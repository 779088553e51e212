"""The xpuops command."""

import json
import os
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    r = subprocess.run(
        [sys.executable, "-m", "xpuops", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_devices_lists_every_backend_with_peaks():
    out = run("devices")
    for name in ("ref", "openblas", "onednn", "opencl", "openvino", "npusim"):
        assert name in out
    assert "Theoretical peaks" in out and "ops/cycle" in out


def test_compare_writes_json_csv_and_plot(tmp_path):
    out = run(
        "compare",
        "matmul",
        "32x48x16",
        "--devices",
        "ref",
        "--precisions",
        "fp32,int8",
        "--min-time",
        "0.01",
        "--json",
        str(tmp_path / "r.json"),
        "--csv",
        str(tmp_path / "r.csv"),
        "--plot",
        str(tmp_path / "r.png"),
    )
    assert "INT8" in out and "FP32" in out
    assert len(json.loads((tmp_path / "r.json").read_text())["records"]) == 2
    assert (tmp_path / "r.csv").read_text().startswith("op,shape,device")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_tour_prints_the_summary_and_writes_the_roofline(tmp_path):
    out = run(
        "tour", "--quick", "--min-time", "0.02", "--plot", str(tmp_path / "tour.png")
    )
    assert "Theoretical peaks" in out and "What this means" in out
    assert "tokens/s" in out
    assert (tmp_path / "tour.png").read_bytes()[:4] == b"\x89PNG"


def fails(*args):
    """Runs a command that must fail as a usage error: status 2, one line on
    stderr, no traceback. Returns (stdout, the line)."""
    r = subprocess.run(
        [sys.executable, "-m", "xpuops", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return r.stdout, lines[0]


@pytest.mark.parametrize(
    "args, says",
    [
        (["compare", "matmul", "512x4096xabc"], "'abc' is not an integer"),
        (["compare", "matmul", "64x64"], "wanting 3"),
        (["compare", "matmul", "8x0x8"], "zero or negative"),
        (["compare", "matmul", "8x8x8", "--devices", "cuda"], "did you mean 'gpu'"),
        (["compare", "matmul", "8x8x8", "--precisions", "int9"], "did you mean 'int8'"),
        (["compare", "matmul", "8x8x8", "--min-time", "-1"], "seconds >= 0"),
        (["compare", "matmul", "8x8x8", "--min-time", "nan"], "seconds >= 0"),
        (
            ["compare", "matmul", "8x8x8", "--plot", "/nonexistent/dir/r.png"],
            "does not exist",
        ),
        (["compare", "matmul", "8x8x8", "--plot", "r.bmp"], "extension"),
        (["compare", "conv2d", "1x8x8x8x8x3", "--groups", "3"], "must divide"),
        (
            ["compare", "conv2d", "1x8x8x8x8x3", "--stride", "2"],
            "--padding same needs --stride 1",
        ),
        (["compare", "conv2d", "1x8x8x8x8x3", "--padding", "lots"], "'same'"),
        (["compare", "attention", "1x4x8x8", "--kv-heads", "3"], "must divide"),
        (["report", "/nonexistent.json"], "no such file"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(args, says):
    out, line = fails(*args)
    assert says in line, line
    assert line.startswith("xpuops")


def test_report_of_a_file_that_is_not_results(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    (tmp_path / "y.json").write_text("{oops")
    assert "not a results file" in fails("report", str(tmp_path / "x.json"))[1]
    assert "not JSON" in fails("report", str(tmp_path / "y.json"))[1]


def test_nothing_to_run_is_an_error_that_says_why():
    out, line = fails(
        "compare", "matmul", "8x8x8", "--devices", "openblas", "--precisions", "int8"
    )
    assert "nothing was run" in line and "openblas does not run int8" in line
    assert "devices that do: ref" in line
    assert out == ""  # no empty table


def test_rows_not_run_are_listed_under_the_table():
    out = run(
        "compare",
        "matmul",
        "8x8x8",
        "--devices",
        "openblas,ref",
        "--precisions",
        "int8",
        "--min-time",
        "0.001",
    )
    assert "INT8" in out
    assert "not run: openblas int8: openblas does not run int8" in out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_the_table_comes_before_a_file_that_fails_to_write():
    r = subprocess.run(
        [sys.executable, "-m", "xpuops", "compare", "matmul", "8x8x8"]
        + ["--devices", "ref", "--precisions", "fp32", "--min-time", "0.001"]
        + ["--csv", "/dev/full"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "FP32" in r.stdout  # the measurement was printed first
    assert "No space left" in r.stderr


def test_attention_is_causal_only_when_asked():
    common = ["--devices", "ref", "--precisions", "fp32", "--min-time", "0.001"]
    plain = run("compare", "attention", "1x4x16x8", *common)
    causal = run("compare", "attention", "1x4x16x8", "--causal", *common)
    gqa = run(
        "compare", "attention", "1x4x16x8", "--kv-heads", "2", "--kv-len", "32", *common
    )
    assert "causal" not in plain and "attention 1x4x16x8 causal" in causal
    assert "attention 1x4x16x8 kv 1x2x32x8" in gqa


def test_conv_options_reach_the_op(tmp_path):
    run(
        "compare",
        "conv2d",
        "1x8x9x9x8x3",
        "--stride",
        "2",
        "--padding",
        "1",
        "--groups",
        "2",
        "--devices",
        "ref",
        "--precisions",
        "fp32",
        "--min-time",
        "0.001",
        "--json",
        str(tmp_path / "c.json"),
    )
    (rec,) = json.loads((tmp_path / "c.json").read_text())["records"]
    assert rec["settings"] == "stride 2, padding 1, groups 2"
    assert rec["shape"] == "1x8x9x9 8x4x3x3"  # w has C / groups channels
    # 2 * N * OC * OH * OW * (C / groups) * K * K with OH = OW = 5
    assert rec["ops"] == 2 * 8 * 5 * 5 * 4 * 3 * 3


def test_devices_fits_100_columns():
    out = run("devices")
    wide = [line for line in out.splitlines() if len(line) > 100]
    assert not wide, wide


def test_help_names_every_command_without_markup():
    out = run("--help")
    for cmd in ("devices", "compare", "tour", "report"):
        assert f"xpuops {cmd}" in out
    assert "``" not in out
    sub = run("compare", "--help")
    assert "--causal" in sub and "--no-causal" in sub and "--groups" in sub

"""The xpuops command."""

import json
import subprocess
import sys


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

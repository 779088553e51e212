"""The pytest plugin without pytest-benchmark (a plain install, issue 15):
xpu_bench still measures; with it, the OPS column is explained."""

import subprocess
import sys
import textwrap


def _run(tmp_path, *flags):
    (tmp_path / "test_one.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import xpuops as xo

            def test_matmul(xpu_bench):
                a = np.ones((16, 16), np.float32)
                m = xpu_bench(xo.matmul, a, a, device="ref", min_time=0.01)
                assert m.device == "ref" and m.throughput.ops_per_s > 0
            """
        )
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_xpu_bench_needs_no_pytest_benchmark(tmp_path):
    r = _run(tmp_path, "-p", "no:benchmark")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fixture 'benchmark' not found" not in r.stdout
    assert "1 passed" in r.stdout


def test_the_ops_column_is_explained(tmp_path):
    r = _run(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OPS is calls per second" in r.stdout

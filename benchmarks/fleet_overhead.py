"""What a fleet adds over running the suite directly, on this machine.

    flock /tmp/xpuops-bench.lock python benchmarks/fleet_overhead.py [--shrink 1]

Makes certificates (xpuops fleet init), starts a TLS scheduler on loopback
(xpuops fleet scheduler) and one worker the way a second machine would join
(a plain ``dask worker`` command with the worker certificate and the
xpuops-host resource), runs the quick suite through it (xpuops fleet run),
then measures the same cases one after another in this process. Prints both
wall times and the difference: what Dask, TLS, the worker's own start-up
(device enumeration, canaries) and the round trips cost."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wait_for(proc, text, timeout=60.0) -> str:
    """The first line of ``proc``'s stderr/stdout holding ``text``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}")
            continue
        if text in line:
            return line
    raise TimeoutError(f"no {text!r} from {proc.args[:4]} in {timeout} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shrink", type=int, default=1)
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--port", type=int, default=8799)
    args = p.parse_args()
    py = sys.executable
    dask_bin = shutil.which("dask", path=str(Path(py).parent)) or shutil.which("dask")
    tmp = Path(tempfile.mkdtemp(prefix="xpuops-fleet-"))
    certs, table = tmp / "certs", tmp / "fleet.parquet"
    env = dict(os.environ)
    subprocess.run(
        [py, "-m", "xpuops", "fleet", "init", str(certs)], check=True, env=env
    )
    addr = f"tls://127.0.0.1:{args.port}"
    procs = []
    try:
        sched = subprocess.Popen(
            [py, "-m", "xpuops", "fleet", "scheduler", "--certs", str(certs),
             "--host", "127.0.0.1", "--port", str(args.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        procs.append(sched)
        _wait_for(sched, "xpuops fleet scheduler at")
        # how a second machine joins: one dask worker command
        worker_cmd = [
            dask_bin, "worker", addr, "--nthreads", "1", "--nworkers", "1",
            "--resources", "xpuops-host=1", "--name", "bench-host",
            "--tls-ca-file", str(certs / "ca.pem"),
            "--tls-cert", str(certs / "worker.pem"),
            "--tls-key", str(certs / "worker-key.pem"),
            "--no-dashboard",
        ]  # fmt: skip
        print("worker: XPUOPS_HOST_LABEL=bench-host " + " ".join(worker_cmd))
        worker = subprocess.Popen(
            worker_cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env, XPUOPS_HOST_LABEL="bench-host"),
        )
        procs.append(worker)
        _wait_for(worker, "Registered to")
        run = [
            py, "-m", "xpuops", "fleet", "run", "--scheduler", addr,
            "--certs", str(certs), "--suite", "quick", "-o", str(table),
            "--shrink", str(args.shrink), "--min-time", str(args.min_time),
        ]  # fmt: skip
        t0 = time.monotonic()
        out = subprocess.run(run, env=env, capture_output=True, text=True)
        fleet_s = time.monotonic() - t0
        print(out.stdout[-3000:], out.stderr[-2000:])
        if out.returncode != 0:
            return out.returncode
    finally:
        for pr in reversed(procs):
            pr.terminate()
            pr.wait(timeout=30)
    # the same cases, one after another, in a fresh process
    direct = (
        "import time, xpuops as xo\n"
        "from xpuops.fleet import read\n"
        "from xpuops.fleet.suite import cases\n"
        "from xpuops.fleet.worker import measure_case\n"
        "t0 = time.monotonic()\n"
        f"df = read({str(table)!r})\n"
        "ok = df[df.status == 'measured']\n"
        f"by = {{c.name: c for c in cases('quick', shrink={args.shrink})}}\n"
        "for r in ok.itertuples():\n"
        f"    measure_case(by[r.case], r.device, r.precision, {args.min_time}, 'hot')\n"
        "print(len(ok), time.monotonic() - t0)\n"
    )
    t0 = time.monotonic()
    res = subprocess.run([py, "-c", direct], env=env, capture_output=True, text=True)
    direct_s = time.monotonic() - t0
    if res.returncode:
        print(res.stderr[-2000:])
        return res.returncode
    n, inner = res.stdout.split()
    print(
        f"quick suite (shrink {args.shrink}), {n} measured rows, this CPU:\n"
        f"  through the fleet (TLS scheduler + 1 dask worker, CLI start-up "
        f"included): {fleet_s:.1f} s\n"
        f"  directly, one process (start-up included): {direct_s:.1f} s "
        f"(measuring alone {float(inner):.1f} s)\n"
        f"  the fleet added {fleet_s - direct_s:+.1f} s "
        f"({fleet_s / direct_s - 1:+.0%})"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: `osteoalert-patient-view` under uvicorn against a bare orjson-parsing endpoint.

Both servers run as real uvicorn processes (one worker each) on loopback. The request is a
patient-view call whose prefetch holds ~150 realistic Observations (a Synthea patient's labs).
Prints, for both: requests/s at 16 connections, p50/p99 latency at 1 connection, server CPU time
per request, and the ratios. Targets (issue #3): throughput ≥ 0.5x the ceiling's; p50 ≤ 2 ms and
p99 ≤ 10 ms at 1 connection.

Load at 16 connections comes from `wrk` when installed (Debian package `wrk`), else from an
asyncio httpx client (which then shares the 2 cores with the servers: the figure is a floor).

Run: .venv/bin/python benchmarks/bench_hooks.py [--seconds 10] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson

from rules import Hook
from service.adapters.hook_request import bundle_to_hook_request

ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT.parent / "shared" / "fixtures" / "synthea-r4-2019" / "ndjson"
SERVICE = "osteoalert-patient-view"
LAB_CODES = {"49765-1", "38483-4", "33914-3", "1751-7", "38265-5", "2160-0", "17861-6"}


def realistic_request(target: int = 150) -> bytes:
    """The Synthea patient with the most rule-relevant labs, topped up with other labs to ~150."""
    by_patient: dict[str, list[dict[str, object]]] = defaultdict(list)
    with gzip.open(SYNTHEA / "Observation.ndjson.gz", "rb") as fh:
        for line in fh:
            obs = orjson.loads(line)
            by_patient[obs["subject"]["reference"].split("/")[1]].append(obs)

    def relevant(o: dict[str, object]) -> bool:
        return any(c.get("code") in LAB_CODES for c in o["code"]["coding"])  # type: ignore[index]

    pid = max(by_patient, key=lambda p: sum(relevant(o) for o in by_patient[p]))
    observations = sorted(by_patient[pid], key=lambda o: (not relevant(o), o.get("effectiveDateTime", "")))
    patients = {}
    with gzip.open(SYNTHEA / "Patient.ndjson.gz", "rb") as fh:
        for line in fh:
            p = orjson.loads(line)
            patients[p["id"]] = p
    entries = [{"resource": patients[pid]}] + [{"resource": o} for o in observations[:target]]
    bundle = orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    return orjson.dumps(bundle_to_hook_request(bundle, hook=Hook.PATIENT_VIEW))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {' '.join(cmd)}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(url: str, body: bytes, n: int, pid: int) -> tuple[float, float, float]:
    """p50, p99 (ms) at 1 connection and server CPU ms per request."""
    headers = {"Content-Type": "application/json"}
    times = []
    with httpx.Client(timeout=10) as client:
        for _ in range(50):
            client.post(url, content=body, headers=headers).raise_for_status()
        cpu0 = cpu_seconds(pid)
        for _ in range(n):
            t0 = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            times.append(time.perf_counter() - t0)
        cpu = (cpu_seconds(pid) - cpu0) / n
    q = statistics.quantiles(times, n=100)
    return q[49] * 1e3, q[98] * 1e3, cpu * 1e3


def throughput_wrk(url: str, body_file: Path, seconds: int) -> float:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
    )
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"    (wrk saw {non2xx.group(1)} non-2xx responses)")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def throughput_httpx(url: str, body: bytes, seconds: int) -> float:
    async def run() -> int:
        done = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=16)) as client:

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                    done += r.status_code == httpx.codes.OK

            await asyncio.gather(*(worker() for _ in range(16)))
        return done

    return asyncio.run(run()) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    if not SYNTHEA.exists():
        print(f"fixtures not found: {SYNTHEA}", file=sys.stderr)
        return 2
    body = realistic_request()
    n_obs = len(orjson.loads(body)["prefetch"]["observations"]["entry"])
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "request.json"
        body_file.write_bytes(body)
        env = {
            **os.environ,
            "OSTEOALERT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "OSTEOALERT_LOG_LEVEL": "WARNING",
        }
        env.pop("OSTEOALERT_REDIS_URL", None)
        p_app, p_bare = free_port(), free_port()
        app = start([sys.executable, "-m", "service.cli", "serve", "--port", str(p_app)], p_app, env)
        bare = start(
            [sys.executable, "-m", "uvicorn", "benchmarks.ceiling_app:app", "--port", str(p_bare),
             "--log-level", "warning", "--no-access-log"],
            p_bare, env,
        )  # fmt: skip
        try:
            results = {}
            for name, port, proc in (("osteoalert", p_app, app), ("bare orjson", p_bare, bare)):
                url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
                p50, p99, cpu = latency(url, body, args.requests, proc.pid)
                rps = (
                    throughput_wrk(url, body_file, args.seconds)
                    if shutil.which("wrk")
                    else throughput_httpx(url, body, args.seconds)
                )
                results[name] = (rps, p50, p99, cpu)
        finally:
            for proc in (app, bare):
                proc.terminate()
                proc.wait(timeout=10)
    loader = "wrk -t2 -c16" if shutil.which("wrk") else "httpx asyncio, 16 connections"
    size_kb = len(body) / 1024
    print(f"request: {size_kb:.0f} KB, {n_obs} Observations in prefetch; load: {loader}, {args.seconds} s")
    print(f"{'':<14}{'req/s @16':>10}{'p50 ms @1':>11}{'p99 ms @1':>11}{'CPU ms/req':>12}")
    for name, (rps, p50, p99, cpu) in results.items():
        print(f"{name:<14}{rps:>10.0f}{p50:>11.2f}{p99:>11.2f}{cpu:>12.2f}")
    app_r, bare_r = results["osteoalert"], results["bare orjson"]
    print(f"throughput ratio osteoalert / ceiling: {app_r[0] / bare_r[0]:.2f}x (target ≥ 0.5x)")
    print(f"CPU per request ratio:                 {app_r[3] / bare_r[3]:.2f}x")
    print(f"osteoalert p50 {app_r[1]:.2f} ms (target ≤ 2), p99 {app_r[2]:.2f} ms (target ≤ 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

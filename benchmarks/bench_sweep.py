"""Benchmark: sweep synthetic populations of 10,000 and 100,000 patients (issue #5).

For each N, in a temporary folder:
  1. `osteoalert synth` writes N patients (timed, in a fresh process: its peak memory too);
  2. a bare pass `orjson`-parses every line of the same files, in this process, one core (the floor
     any reader of the data pays; best of two runs, the first also warms the page cache);
  3. the sweep use case (`service.sweep.run.sweep`, local process pool, batch scope) runs in a fresh
     process; its time is the sweep's own (`SweepResult.seconds["total"]`, imports excluded).
Memory is sampled from /proc every 25 ms (PSS every 250 ms) over the sweep's whole process tree
(the sweep process, the forkserver and every pool worker): the peak of the summed RSS, the peak of
the summed PSS (shared pages counted once) and the largest single process (its kernel high-water
mark, VmHWM).
The findings the sweep counts are checked against the manifest's expected batch findings.

Targets: sweep time ≤ 2× the bare parse pass; peak memory under 1 GiB and independent of N.

Run: .venv/bin/python benchmarks/bench_sweep.py [--sizes 10000,100000] [--workers W] [--seed S]
     [--gzip] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from rules import Parameters
from service.adapters.codesets import load_codesets
from service.evaluation import Engine
from service.sweep.run import SweepOptions, sweep
from service.sweep.sources import NdjsonSource
from service.synth import SynthOptions, generate_population

ROOT = Path(__file__).resolve().parents[1]
AT = "2026-01-15T12:00:00+00:00"
GIB = 1024**3
CHUNK = 4 * 1024 * 1024
_TICKS = os.sysconf("SC_CLK_TCK")


# ---- the measured processes (run as `bench_sweep.py --child ...`) ---------------------------------
def child_synth(folder: str, patients: int, seed: int, gz: bool) -> dict[str, Any]:
    start = time.perf_counter()
    summary = generate_population(
        SynthOptions(patients, Path(folder), datetime.fromisoformat(AT), seed=seed, gzip=gz)
    )
    return {"seconds": time.perf_counter() - start, "resources": sum(summary.resources.values())}


def child_sweep(folder: str, out: str, workers: int) -> dict[str, Any]:
    engine = Engine(load_codesets(), Parameters())
    options = SweepOptions(out=Path(out), at=datetime.fromisoformat(AT), workers=workers)
    before = time.process_time()  # this process's CPU spent on imports and set-up, not sweeping
    result = sweep(engine, NdjsonSource.of(Path(folder)), options)
    tally = result.outputs.tally
    return {
        "seconds": result.seconds,
        "cpu_before": before,
        "shards": result.shards,
        "patients": tally.patients,
        "findings": {rule: sum(c.values()) for rule, c in tally.findings.items()},
        "rule_failures": tally.rule_failures,
        "bad_patients": tally.bad_patients,
    }


def run_child(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "synth":
        data = child_synth(rest[0], int(rest[1]), int(rest[2]), rest[3] == "gz")
    else:
        data = child_sweep(rest[0], rest[1], int(rest[2]))
    sys.stdout.buffer.write(orjson.dumps(data) + b"\n")
    return 0


# ---- memory of a process tree, from /proc -----------------------------------------------------
def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(p) for p in fh.read().split()]
    except OSError:
        pass  # the process (or thread) has just exited
    return found


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        p = stack.pop()
        pids.append(p)
        stack += _children(p)
    return pids


def _kib(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in keys:
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class MemoryPeak:
    """Peaks of a process tree's memory, and the CPU time its processes were last seen with."""

    rss_sum: int = 0  # KiB
    pss_sum: int = 0
    largest: int = 0  # KiB, the largest VmHWM seen
    processes: int = 0
    cpu: dict[int, float] = field(default_factory=dict)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def sample(self, root: int, *, pss: bool) -> None:
        pids = _tree(root)
        rss = pss_total = 0
        for pid in pids:
            status = _kib(f"/proc/{pid}/status", ("VmRSS", "VmHWM"))
            if (cpu := _cpu_seconds(pid)) is not None:
                self.cpu[pid] = cpu
            rss += status.get("VmRSS", 0)
            self.largest = max(self.largest, status.get("VmHWM", 0))
            if pss:  # walks the page tables: sampled less often, to stay out of the sweep's way
                pss_total += _kib(f"/proc/{pid}/smaps_rollup", ("Pss",)).get("Pss", 0)
        self.rss_sum = max(self.rss_sum, rss)
        self.pss_sum = max(self.pss_sum, pss_total)
        self.processes = max(self.processes, len(pids))


def measured(args: list[str]) -> tuple[dict[str, Any], MemoryPeak, float]:
    """Run `bench_sweep.py --child *args` in a fresh process; its JSON, memory peak and wall time."""
    start = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    peak = MemoryPeak()
    samples = 0
    while proc.poll() is None:
        peak.sample(proc.pid, pss=samples % 10 == 0)
        samples += 1
        time.sleep(0.025)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed with exit code {proc.returncode}")
    data: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return data, peak, time.perf_counter() - start


# ---- the bare pass ----------------------------------------------------------------------------
def _chunks(path: Path) -> Iterator[bytes]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as zipped:
            while chunk := zipped.read(CHUNK):
                yield chunk
        return
    with open(path, "rb") as plain:
        while chunk := plain.read(CHUNK):
            yield chunk


def bare_parse(folder: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds to read and `orjson.loads` every line of every NDJSON file; lines."""
    start, cpu = time.perf_counter(), time.process_time()
    lines = 0
    for path in sorted(folder.iterdir()):
        if not path.name.endswith((".ndjson", ".ndjson.gz")):
            continue
        rest = b""
        for chunk in _chunks(path):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            for line in data[:cut].splitlines():
                orjson.loads(line)
                lines += 1
        for line in rest.splitlines():
            orjson.loads(line)
            lines += 1
    return time.perf_counter() - start, time.process_time() - cpu, lines


# ---- one population size ------------------------------------------------------------------
def mib(kib: int) -> float:
    return kib / 1024


def bench_size(n: int, workers: int, seed: int, gz: bool, base: Path) -> dict[str, Any]:
    folder, out = base / f"pop-{n}", base / f"sweep-{n}"
    made, synth_mem, _ = measured(["synth", str(folder), str(n), str(seed), "gz" if gz else "plain"])
    size = sum(p.stat().st_size for p in folder.iterdir())
    bare_s, bare_cpu, lines = min(bare_parse(folder) for _ in range(2))
    swept, mem, wall = measured(["sweep", str(folder), str(out), str(workers)])
    manifest = orjson.loads((folder / "synth-manifest.json").read_bytes())
    expected = manifest["expected_findings"]["batch"]
    seconds = swept["seconds"]["total"]
    cpu = mem.cpu_seconds - swept["cpu_before"]
    return {
        "n": n, "synth_s": made["seconds"], "synth_mem": synth_mem, "bytes": size, "lines": lines,
        "bare_s": bare_s, "bare_cpu": bare_cpu, "sweep_s": seconds, "sweep_cpu": cpu, "wall_s": wall,
        "stages": swept["seconds"], "shards": swept["shards"], "patients": swept["patients"],
        "mem": mem, "ratio": seconds / bare_s, "cpu_ratio": cpu / bare_cpu,
        "matches": swept["findings"] == expected and not swept["rule_failures"],
        "findings": sum(swept["findings"].values()), "expected": sum(expected.values()),
    }  # fmt: skip


def _row(r: dict[str, Any]) -> str:
    m = r["mem"]
    check = "= manifest" if r["matches"] else f"DIFFERS from manifest {r['expected']:,}"
    return (
        f"{r['n']:>8,} {r['lines']:>10,} {r['bytes'] / 2**20:>6.0f} {r['bare_s']:>7.2f} "
        f"{r['sweep_s']:>8.2f} {r['patients'] / r['sweep_s']:>7,.0f} {r['ratio']:>6.2f}x "
        f"{r['sweep_cpu']:>7.1f} {r['cpu_ratio']:>6.2f}x {mib(m.rss_sum):>6.0f}M {mib(m.pss_sum):>6.0f}M "
        f"{mib(m.largest):>6.0f}M {m.processes:>5}  {r['findings']:,} ({check})"
    )


def report(rows: list[dict[str, Any]], workers: int, load: tuple[float, float]) -> None:
    print(
        f"\nsweep: local pool of {workers} worker process(es) on {os.cpu_count()} CPU(s); T = {AT}; "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after (other work on the machine slows both)"
    )
    print(
        f"{'N':>8} {'lines':>10} {'MiB':>6} {'bare s':>7} {'sweep s':>8} {'pat/s':>7} {'ratio':>7} "
        f"{'CPU s':>7} {'CPU x':>7} {'RSS sum':>7} {'PSS sum':>7} {'largest':>7} {'procs':>5}  findings"
    )
    for r in rows:
        print(_row(r))
    print("ratio = sweep wall / bare-parse wall; CPU x = sweep CPU (all processes) / bare-parse CPU")
    for r in rows:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in r["stages"].items() if k != "total")
        print(
            f"N={r['n']:,}: {stages}; {r['shards']} shards; sweep process wall {r['wall_s']:.1f} s "
            f"(with start-up); synth {r['synth_s']:.1f} s = {r['n'] / r['synth_s']:,.0f} patients/s, "
            f"peak RSS {mib(r['synth_mem'].largest):.0f} MiB"
        )
    worst = max(r["ratio"] for r in rows)
    worst_mem = max(r["mem"].rss_sum for r in rows) * 1024
    print(f"target sweep ≤ 2× bare parse: worst {worst:.2f}x → {'met' if worst <= 2 else 'MISSED'}")
    met = "met" if worst_mem < GIB else "MISSED"
    print(f"target peak memory < 1 GiB (RSS summed over all processes): {worst_mem / GIB:.2f} GiB → {met}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return run_child(argv[1:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated population sizes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gzip", action="store_true", help="generate .ndjson.gz files")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            print(f"N = {n:,}: generating, parsing, sweeping ...", flush=True)
            rows.append(bench_size(n, args.workers, args.seed, args.gzip, base))
    report(rows, args.workers, (load_before, os.getloadavg()[0]))
    print(f"(run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

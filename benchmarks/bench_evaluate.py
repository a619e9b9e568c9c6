"""Benchmark: the rule engine over the 615 Synthea patients of ../shared/fixtures.

Prints, for the same in-memory NDJSON lines grouped by patient:
  (a) µs per patient for decoding + snapshot-building + rules (the fast path the product uses),
      and for snapshot-building + rules alone (decoding excluded);
  (b) µs per patient for a bare `orjson.loads` of every line of those patients (the floor any
      reader pays);
  the ratios, and the `--strict` path (full fhir.resources R4B validation) on a sample.
Target (issue #2): rules + snapshot ≤ 1× the bare parse cost.

`--synth DIR` measures a folder written by `osteoalert synth` instead (evaluated at the manifest's
`at`, batch scope): the same figures, plus the NDJSON-lines path a sweep takes for each patient
(`service.sweep.evaluate.read_patient_block` on its block of lines → snapshot → rules). Synthetic
patients carry many more bone-relevant labs than Synthea's, so this is where the per-Observation
cost shows (issue #5).

Run: .venv/bin/python benchmarks/bench_evaluate.py [--fixtures DIR] [--repeat N] [--strict-sample N]
     .venv/bin/python benchmarks/bench_evaluate.py --synth DIR [--patients N] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from rules import Hook, Parameters, evaluate
from service.adapters.codesets import load_codesets
from service.adapters.fhir_assemble import PatientResources
from service.adapters.fhir_decode import read_patient_bundle
from service.adapters.fhir_snapshot import build_snapshot
from service.sweep.evaluate import read_patient_block

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fixture reader lives in tests/ (tests is not an installed package)

from tests.synthea import SYNTHEA, ndjson_patients, owner_of  # noqa: E402

DEFAULT_FIXTURES = SYNTHEA / "ndjson"
AT = datetime(2021, 4, 1, tzinfo=UTC)  # the data runs up to 2021-03-31


def load_patients(folder: Path) -> list[bytes]:
    """One NDJSON blob per patient, built once (untimed) from the fixture files."""
    return list(ndjson_patients(folder).values())


def load_synth(folder: Path, limit: int | None) -> tuple[list[list[bytes]], datetime]:
    """Each synthetic patient's lines (every NDJSON file of the folder, plain or .gz) and `at`."""
    manifest = orjson.loads((folder / "synth-manifest.json").read_bytes())
    lines: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted([*folder.glob("*.ndjson"), *folder.glob("*.ndjson.gz")]):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for raw in data.split(b"\n"):
            line = raw.strip()
            if line:
                pid = owner_of(orjson.loads(line))
                if pid is not None:
                    lines[pid].append(line)
    groups = list(lines.values())[:limit]
    return groups, datetime.fromisoformat(manifest["at"].replace("Z", "+00:00"))


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--strict-sample", type=int, default=40)
    parser.add_argument("--synth", type=Path, help="a folder written by `osteoalert synth`")
    parser.add_argument("--patients", type=int, help="with --synth: only the first N patients")
    args = parser.parse_args(argv)
    if args.synth is not None:
        return synth_main(args.synth, args.patients, args.repeat)
    if not args.fixtures.exists():
        print(f"fixtures not found: {args.fixtures}", file=sys.stderr)
        return 2

    patients = load_patients(args.fixtures)
    lines = [blob.split(b"\n") for blob in patients]
    n = len(patients)
    n_resources = sum(len(x) for x in lines)
    codesets = load_codesets()
    params = Parameters()
    decoded = [read_patient_bundle(blob) for blob in patients]

    def bare_parse() -> None:
        for patient_lines in lines:
            for line in patient_lines:
                orjson.loads(line)

    def full_path() -> None:
        for blob in patients:
            resources = read_patient_bundle(blob)
            snap = build_snapshot(
                resources, at=AT, hook=Hook.PATIENT_VIEW, selections=None, codesets=codesets, params=params
            )
            evaluate(snap, params)

    def engine_only() -> None:
        for resources in decoded:
            snap = build_snapshot(
                resources, at=AT, hook=Hook.PATIENT_VIEW, selections=None, codesets=codesets, params=params
            )
            evaluate(snap, params)

    sample = patients[: args.strict_sample]

    def strict_path() -> None:
        for blob in sample:
            resources = read_patient_bundle(blob, strict=True)
            snap = build_snapshot(
                resources, at=AT, hook=Hook.PATIENT_VIEW, selections=None, codesets=codesets, params=params
            )
            evaluate(snap, params)

    t_parse = best_of(args.repeat, bare_parse)
    t_full = best_of(args.repeat, full_path)
    t_engine = best_of(args.repeat, engine_only)
    t_strict = best_of(1, strict_path)
    us = 1e6
    per = {
        "bare orjson.loads": t_parse / n * us,
        "decode + snapshot + rules": t_full / n * us,
        "snapshot + rules (decoded)": t_engine / n * us,
    }
    print(
        f"patients: {n}   resources: {n_resources}   "
        f"resources/patient: {statistics.mean(len(x) for x in lines):.0f}   best of {args.repeat}"
    )
    for label, value in per.items():
        print(f"  {label:<30} {value:10.1f} µs/patient")
    print(
        f"  {'strict (R4B validation) path':<30} {t_strict / len(sample) * us:10.1f} µs/patient "
        f"(sample of {len(sample)})"
    )
    print(f"ratio snapshot+rules / bare parse:         {t_engine / t_parse:.2f}x  (target ≤ 1.00x)")
    print(
        f"ratio decode+snapshot+rules / bare parse:  {t_full / t_parse:.2f}x  (target ≤ 2.00x: "
        "the engine at most doubles the cost of reading)"
    )
    print(f"ratio strict / fast path:                  {t_strict / len(sample) / (t_full / n):.1f}x")
    return 0


def synth_main(folder: Path, limit: int | None, repeat: int) -> int:
    if not (folder / "synth-manifest.json").exists():
        print(f"not a folder written by `osteoalert synth`: {folder}", file=sys.stderr)
        return 2
    groups, at = load_synth(folder, limit)
    blobs = [b"\n".join(g) for g in groups]
    blocks = [blob + b"\n" for blob in blobs]  # as a shard holds a patient's lines
    codesets = load_codesets()
    params = Parameters()
    decoded = [read_patient_bundle(blob) for blob in blobs]

    def engine(resources: PatientResources) -> None:
        snap = build_snapshot(
            resources, at=at, hook=Hook.BATCH, selections=None, codesets=codesets, params=params
        )
        evaluate(snap, params)

    def bare_parse() -> None:
        for patient_lines in groups:
            for line in patient_lines:
                orjson.loads(line)

    def full_path() -> None:  # = service.evaluation.evaluate_bundle
        for blob in blobs:
            engine(read_patient_bundle(blob))

    def lines_path() -> None:  # = service.sweep.evaluate, for one patient of a shard
        for block in blocks:
            engine(read_patient_block(block))

    def engine_only() -> None:
        for resources in decoded:
            engine(resources)

    timed = {
        "bare orjson.loads": bare_parse,
        "decode + snapshot + rules": full_path,
        "NDJSON lines path (sweep)": lines_path,
        "snapshot + rules (decoded)": engine_only,
    }
    seconds = {label: best_of(repeat, fn) for label, fn in timed.items()}
    n = len(groups)
    print(
        f"synthetic patients: {n}   resources: {sum(len(g) for g in groups)}   at {at.isoformat()}   "
        f"best of {repeat}"
    )
    for label, value in seconds.items():
        print(f"  {label:<30} {value / n * 1e6:10.1f} µs/patient")
    bare = seconds["bare orjson.loads"]
    for label, value in list(seconds.items())[1:]:
        print(f"ratio {label + ' / bare parse:':<43} {value / bare:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sweep gives exactly what `osteoalert evaluate --hook batch` gives for each patient one by one.

Reference: each patient's own NDJSON lines (every type, as exported), evaluated in-process with
`service.evaluation.evaluate_bundle` (the CLI's use case) and, for a few patients, with the CLI
itself in a subprocess. Checked on the 615 Synthea patients of the shared fixtures and on the
bundled vignette patients; the outputs are the same whatever the shards and workers.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.measurereport import MeasureReport

from rules import Hook
from service.adapters.findings_json import finding_to_dict
from service.evaluation import Engine, evaluate_bundle
from service.sweep import run as run_module
from service.sweep.run import SweepOptions, SweepResult, piece_bytes, sweep
from service.sweep.sources import SPLIT_BYTES, NdjsonSource, SourceFile
from tests.service.sweep.population import (
    SAMPLES_AT,
    default_engine,
    findings_by_patient,
    lines_by_patient,
    samples_folder,
)

SYNTHEA_AT = datetime(2021, 4, 1, tzinfo=UTC)  # the fixture data runs up to 2021-03-31
OUTPUT_FILES = ("worklist.csv", "findings.ndjson", "problems.ndjson", "measure_report.json", "report.html")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return default_engine()


@pytest.fixture(scope="module")
def synthea(shared_fixtures: Path) -> Path:
    return shared_fixtures / "synthea-r4-2019" / "ndjson"


@pytest.fixture(scope="module")
def synthea_sweep(engine: Engine, synthea: Path, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    out = tmp_path_factory.mktemp("synthea-sweep")
    return sweep(engine, NdjsonSource.of(synthea), SweepOptions(out=out, at=SYNTHEA_AT, workers=2, shards=7))


def reference_findings(
    engine: Engine, folder: Path, at: datetime, strict: bool = False
) -> dict[str, list[dict[str, Any]]]:
    expected = {}
    for patient, blob in lines_by_patient(folder).items():
        result = evaluate_bundle(engine, blob, at=at, hook=Hook.BATCH, strict=strict)
        assert result.failures == ()
        if result.findings:
            expected[patient] = [finding_to_dict(f) for f in result.findings]
    return expected


@pytest.mark.fixtures
@pytest.mark.slow
def test_a_synthea_sweep_gives_exactly_the_findings_of_each_patient_evaluated_alone(
    engine: Engine, synthea: Path, synthea_sweep: SweepResult
) -> None:
    expected = reference_findings(engine, synthea, SYNTHEA_AT)
    found = findings_by_patient(synthea_sweep.outputs.out)
    assert found == expected
    tally = synthea_sweep.outputs.tally
    assert (tally.patients, tally.bad_patients, tally.rule_failures) == (615, 0, 0)
    assert tally.with_findings == len(expected) > 0


@pytest.mark.fixtures
@pytest.mark.slow
def test_the_cli_evaluate_command_agrees_with_the_sweep_for_sampled_patients(
    synthea: Path, synthea_sweep: SweepResult, tmp_path: Path
) -> None:
    found = findings_by_patient(synthea_sweep.outputs.out)
    lines = lines_by_patient(synthea)
    flagged = sorted(found)[:2]
    unflagged = sorted(set(lines) - set(found))[:1]
    for patient in flagged + unflagged:
        path = tmp_path / f"{patient.removeprefix('Patient/')}.ndjson"
        path.write_bytes(lines[patient])
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", "evaluate", str(path), "--hook", "batch",
             "--format", "json", "--at", "2021-04-01T00:00:00Z"],
            capture_output=True, check=True,
        )  # fmt: skip
        assert orjson.loads(done.stdout)["findings"] == found.get(patient, [])


@pytest.mark.fixtures
@pytest.mark.slow
def test_the_synthea_measure_report_is_valid_r4b_with_one_group_per_batch_rule(
    synthea_sweep: SweepResult,
) -> None:
    report = orjson.loads((synthea_sweep.outputs.out / "measure_report.json").read_bytes())
    MeasureReport.model_validate(report)
    counts = {
        g["code"]["coding"][0]["code"]: {p["code"]["coding"][0]["code"]: p["count"] for p in g["population"]}
        for g in report["group"]
    }
    tally = synthea_sweep.outputs.tally
    assert len(counts) == 10  # the batch scope of RULES.md 1.5
    for rule, populations in counts.items():
        assert populations["initial-population"] == tally.patients == 615
        assert populations["numerator"] == sum(tally.findings.get(rule, {}).values())


def test_a_sweep_of_the_vignette_patients_matches_each_bundle_evaluated_alone(
    engine: Engine, tmp_path: Path
) -> None:
    folder = samples_folder(tmp_path / "in")
    expected = reference_findings(engine, folder, SAMPLES_AT)
    result = sweep(
        engine, NdjsonSource.of(folder), SweepOptions(out=tmp_path / "out", at=SAMPLES_AT, workers=1)
    )
    assert findings_by_patient(result.outputs.out) == expected
    assert {f["rule_id"] for fs in expected.values() for f in fs} >= {"osteoporosis-untreated"}


def test_outputs_are_byte_identical_whatever_the_shards_workers_and_compression(
    engine: Engine, tmp_path: Path
) -> None:
    plain = samples_folder(tmp_path / "plain")
    gz = samples_folder(tmp_path / "gz", gz=True)
    runs = [
        (plain, SweepOptions(out=tmp_path / "a", at=SAMPLES_AT, workers=1, shards=1)),
        (gz, SweepOptions(out=tmp_path / "b", at=SAMPLES_AT, workers=2, shards=5)),
        (plain, SweepOptions(out=tmp_path / "c", at=SAMPLES_AT, workers=2, shards=13)),
    ]
    for folder, options in runs:
        sweep(engine, NdjsonSource.of(folder), options)
    for name in OUTPUT_FILES:
        first = (tmp_path / "a" / name).read_bytes()
        assert first or name == "problems.ndjson", name
        assert (tmp_path / "c" / name).read_bytes() == first, name
        if name != "report.html":  # the report names its source folder
            assert (tmp_path / "b" / name).read_bytes() == first, name


def test_files_partitioned_in_pieces_by_both_workers_give_byte_identical_outputs(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = samples_folder(tmp_path / "plain")
    whole = sweep(engine, NdjsonSource.of(plain), SweepOptions(out=tmp_path / "a", at=SAMPLES_AT, workers=1))
    monkeypatch.setattr(run_module, "MIN_PIECE_BYTES", 1_000)  # the samples are small: pieces anyway
    split = sweep(engine, NdjsonSource.of(plain), SweepOptions(out=tmp_path / "b", at=SAMPLES_AT, workers=2))
    assert len(split.partition) > len(whole.partition) == whole.files
    assert any("[bytes " in s.file for s in split.partition)
    assert sum(s.lines for s in split.partition) == sum(s.lines for s in whole.partition)
    for name in OUTPUT_FILES:
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name


def test_each_worker_gets_several_pieces_of_a_large_source_but_a_piece_stays_bounded(tmp_path: Path) -> None:
    big = tmp_path / "Observation.ndjson"
    with big.open("wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(1024**3)
    small = tmp_path / "Patient.ndjson"
    small.write_bytes(b"{}\n" * 1000)
    assert piece_bytes([SourceFile(big, "Observation")], workers=1) == SPLIT_BYTES
    assert piece_bytes([SourceFile(big, "Observation")], workers=2) == SPLIT_BYTES
    assert piece_bytes([SourceFile(small, "Patient")], workers=2) == run_module.MIN_PIECE_BYTES
    medium = run_module.MIN_PIECE_BYTES * 8 * 5
    assert piece_bytes([SourceFile(big, "Observation", end=medium)], workers=2) == medium // 8

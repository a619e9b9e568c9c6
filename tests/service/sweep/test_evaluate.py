"""Evaluating shards: one patient's trouble is recorded and the sweep goes on; strict mode; shared
Medications; the tally counts what the report shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules import Hook
from service.adapters.findings_json import finding_to_dict
from service.evaluation import Engine, evaluate_bundle
from service.sweep.evaluate import ShardJob, evaluate_shard
from service.sweep.partition import partition_file, shard_dir, shared_dir
from service.sweep.run import SweepOptions, SweepResult, sweep
from service.sweep.sources import NdjsonSource, folder_files
from tests.builders import T, a_patient
from tests.fhir_bundles import to_bundle
from tests.service.sweep.population import (
    bundle_resources,
    default_engine,
    findings_by_patient,
    read_ndjson,
    samples_folder,
    write_folder,
)

Json = dict[str, Any]
ENGINE = default_engine()


def run(folder: Path, out: Path, engine: Engine = ENGINE, **options: Any) -> SweepResult:
    return sweep(engine, NdjsonSource.of(folder), SweepOptions(out=out, at=T, workers=1, **options))


def untreated_osteoporosis(pid: str) -> list[Json]:
    builder = a_patient(70, "female", id=pid).dxa("T", "LS", -2.7, days_ago=40)
    return bundle_resources(to_bundle(builder))


def test_a_rule_that_fails_is_recorded_and_the_other_rules_and_patients_go_on(tmp_path: Path) -> None:
    # A site configuration error that breaks one rule (CKD-MBD intervals missing).
    missing: dict[str, Any] = {"ckd_mbd_g3": (), "ckd_mbd_g4": (), "ckd_mbd_g5": ()}
    broken = dataclasses.replace(ENGINE.params, **missing)
    folder = samples_folder(tmp_path / "in")
    good = run(folder, tmp_path / "good")
    bad = run(folder, tmp_path / "bad", Engine(ENGINE.codesets, broken))
    problems = read_ndjson(tmp_path / "bad" / "problems.ndjson")
    assert problems and {p["kind"] for p in problems} == {"rule-failure"}
    assert {p["rule_id"] for p in problems} == {"ckd-mbd-monitoring-due"}
    assert bad.outputs.tally.rule_failures == len(problems)
    without_ckd = {
        patient: [f for f in fs if f["rule_id"] != "ckd-mbd-monitoring-due"]
        for patient, fs in findings_by_patient(tmp_path / "good").items()
    }
    assert findings_by_patient(tmp_path / "bad") == {p: fs for p, fs in without_ckd.items() if fs}
    assert bad.outputs.tally.patients == good.outputs.tally.patients == 45


def test_a_patient_that_cannot_be_assembled_is_recorded_and_the_others_are_evaluated(tmp_path: Path) -> None:
    calcium = {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]}
    orphan = {"resourceType": "Observation", "id": "o-orphan", "status": "final", "code": calcium,
              "subject": {"reference": "Patient/nobody"}}  # fmt: skip
    bad_birth = {"resourceType": "Patient", "id": "badbirth", "birthDate": "1960-13-45"}
    folder = write_folder(tmp_path / "in", [*untreated_osteoporosis("ok1"), orphan, bad_birth])
    result = run(folder, tmp_path / "out")
    problems = {p["patient"]: p for p in read_ndjson(tmp_path / "out" / "problems.ndjson")}
    assert set(problems) == {"Patient/nobody", "Patient/badbirth"}
    assert {p["kind"] for p in problems.values()} == {"bad-patient"}
    assert "no Patient" in problems["Patient/nobody"]["detail"]
    assert result.outputs.tally.bad_patients == 2
    assert "osteoporosis-untreated" in {
        f["rule_id"] for f in findings_by_patient(tmp_path / "out")["Patient/ok1"]
    }


def test_strict_mode_validates_each_line_with_the_r4b_models_as_evaluate_does(tmp_path: Path) -> None:
    resources = untreated_osteoporosis("s1")
    for r in resources:
        if r["resourceType"] == "Observation":
            r["notAFhirElement"] = True  # the fast decoder skips unknown fields; R4B rejects them
    folder = write_folder(tmp_path / "in", resources)
    lenient = run(folder, tmp_path / "lenient")
    strict = run(folder, tmp_path / "strict", strict=True)
    blob = b"\n".join(orjson.dumps(r) for r in resources)
    reference = evaluate_bundle(ENGINE, blob, at=T, hook=Hook.BATCH, strict=True)
    assert "osteoporosis-untreated" in {
        f["rule_id"] for f in findings_by_patient(tmp_path / "lenient")["Patient/s1"]
    }
    # Without the (rejected) DXA the patient is one whose screening is due.
    assert findings_by_patient(tmp_path / "strict") == {
        "Patient/s1": [finding_to_dict(f) for f in reference.findings]
    }
    assert [f.rule_id for f in reference.findings] == ["osteoporosis-screening-due"]
    assert (
        strict.outputs.tally.ignored["invalid-resource"]
        == lenient.outputs.tally.ignored["invalid-resource"] + 1
    )


def test_medications_named_by_reference_are_shared_with_every_shard(tmp_path: Path) -> None:
    patients = []
    for pid in ("g1", "g2", "g3"):
        resources = bundle_resources(
            to_bundle(a_patient(60, "female", id=pid).med("prednisone", since_days=200, dose_mg=10))
        )
        for r in resources:
            if r["resourceType"] == "MedicationRequest":
                r["medicationReference"] = {"reference": "Medication/pred"}
                medication = {
                    "resourceType": "Medication",
                    "id": "pred",
                    "code": r.pop("medicationCodeableConcept"),
                }
        patients.append(resources)
    folder = write_folder(tmp_path / "in", [medication, *(r for p in patients for r in p)])
    run(folder, tmp_path / "out", shards=3)
    found = findings_by_patient(tmp_path / "out")
    blob = b"\n".join(orjson.dumps(r) for r in [*patients[0], medication])
    reference = evaluate_bundle(ENGINE, blob, at=T, hook=Hook.BATCH)
    assert [f["rule_id"] for f in found["Patient/g1"]] == ["gio-bone-assessment-due"]
    assert found["Patient/g1"] == [finding_to_dict(f) for f in reference.findings]
    assert set(found) == {"Patient/g1", "Patient/g2", "Patient/g3"}


def test_the_tally_counts_patients_by_age_band_and_sex(tmp_path: Path) -> None:
    young = bundle_resources(to_bundle(a_patient(12, "male", id="child")))
    folder = write_folder(tmp_path / "in", [*untreated_osteoporosis("old"), *young])
    tally = run(folder, tmp_path / "out").outputs.tally
    assert (tally.patients, tally.eligible, tally.with_findings) == (2, 1, 1)
    assert tally.demographics == {"70-79|female": [1, 1, 1], "<18|male": [1, 0, 0]}
    assert tally.findings["osteoporosis-untreated"] == {"warning": 1}
    assert tally.total_findings == sum(sum(c.values()) for c in tally.findings.values()) >= 1


def test_a_shard_without_its_owners_sidecars_is_grouped_by_reading_its_lines(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in")
    work = tmp_path / "work"
    for f in folder_files(folder):
        partition_file(f, work, 1)
    job = ShardJob(str(shard_dir(work, 0)), str(shared_dir(work)), str(tmp_path / "a.ndjson"), T.isoformat())
    with_sidecars = evaluate_shard(ENGINE, job).read_bytes()
    for sidecar in shard_dir(work, 0).glob("*.owners"):
        sidecar.unlink()
    job = ShardJob(job.shard, job.shared, str(tmp_path / "b.ndjson"), job.at)
    assert evaluate_shard(ENGINE, job).read_bytes() == with_sidecars != b""


def test_a_shard_part_that_disagrees_with_its_owners_sidecar_fails_instead_of_misattributing_lines(
    tmp_path: Path,
) -> None:
    folder = samples_folder(tmp_path / "in")
    work = tmp_path / "work"
    for f in folder_files(folder):
        partition_file(f, work, 1)
    [part] = [p for p in shard_dir(work, 0).glob("*.ndjson") if "Observation" in p.name]
    lines = part.read_bytes().splitlines()
    part.write_bytes(b"\n".join(lines[:-1]) + b"\n")  # a line short: e.g. a truncated copy
    job = ShardJob(str(shard_dir(work, 0)), str(shared_dir(work)), str(tmp_path / "a.ndjson"), T.isoformat())
    with pytest.raises(RuntimeError, match="its lines do not match its owners sidecar"):
        evaluate_shard(ENGINE, job)

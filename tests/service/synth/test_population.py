"""`osteoalert synth`: deterministic, valid FHIR R4 Bulk Data NDJSON with a manifest that adds up."""

from __future__ import annotations

import gzip
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.adapters.fhir_strict import validate_resource
from service.cli import main
from service.synth import ARCHETYPES, MANIFEST, SynthOptions, generate_population
from service.synth.record import TYPES

AT = datetime(2026, 1, 15, 12, tzinfo=UTC)
# A seed whose first 200 patients use every resource type (MedicationAdministration is rare).
SEED = 2


def synth(out: Path, patients: int = 200, seed: int = SEED, *, gz: bool = False) -> Path:
    generate_population(SynthOptions(patients, out, AT, seed=seed, gzip=gz))
    return out


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def ndjson_lines(folder: Path) -> dict[str, list[bytes]]:
    """Resource type → lines, read back from the files the manifest lists."""
    manifest = orjson.loads((folder / MANIFEST).read_bytes())
    out: dict[str, list[bytes]] = {}
    for entry in manifest["files"]:
        data = (folder / entry["file"]).read_bytes()
        if entry["file"].endswith(".gz"):
            data = gzip.decompress(data)
        out[entry["type"]] = data.splitlines()
    return out


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def manifest(population: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((population / MANIFEST).read_bytes())
    return data


def test_the_same_seed_gives_byte_identical_files(tmp_path: Path, population: Path) -> None:
    again = synth(tmp_path / "again")
    assert file_bytes(again) == file_bytes(population)


def test_a_different_seed_gives_different_patients(tmp_path: Path, population: Path) -> None:
    other = file_bytes(synth(tmp_path / "other", seed=SEED + 1))
    same = file_bytes(population)
    assert other.keys() == same.keys()
    assert all(other[name] != same[name] for name in ("Patient.ndjson", "Observation.ndjson"))


def test_gzip_output_is_deterministic_and_holds_the_same_lines(tmp_path: Path, population: Path) -> None:
    first = synth(tmp_path / "a", gz=True)
    second = synth(tmp_path / "b", gz=True)
    assert file_bytes(first) == file_bytes(second)
    assert sorted(p.name for p in first.glob("*.ndjson.gz")) == sorted(f"{t}.ndjson.gz" for t in TYPES)
    assert ndjson_lines(first) == ndjson_lines(population)


def test_one_file_per_resource_type_and_every_type_is_used(population: Path) -> None:
    lines = ndjson_lines(population)
    assert list(lines) == list(TYPES)
    assert all(lines[t] for t in TYPES), {t: len(v) for t, v in lines.items()}


def test_every_line_is_one_resource_of_its_file_type_with_a_unique_id(population: Path) -> None:
    for rtype, lines in ndjson_lines(population).items():
        resources = [orjson.loads(line) for line in lines]
        assert {r["resourceType"] for r in resources} == {rtype}
        assert len({r["id"] for r in resources}) == len(resources)


def test_every_resource_validates_with_the_r4b_models(population: Path) -> None:
    problems = [
        problem
        for rtype, lines in ndjson_lines(population).items()
        for line in lines
        if (problem := validate_resource(rtype, line).problem) is not None
    ]
    assert problems == []


def test_every_resource_belongs_to_a_patient_of_the_population(population: Path) -> None:
    lines = ndjson_lines(population)
    patients = {f"Patient/{orjson.loads(line)['id']}" for line in lines["Patient"]}
    for rtype in TYPES[1:]:
        subjects = {orjson.loads(line)["subject"]["reference"] for line in lines[rtype]}
        assert subjects <= patients, rtype


def test_manifest_archetype_counts_add_up_to_n_and_match_the_patient_tags(
    population: Path, manifest: dict[str, Any]
) -> None:
    counts = {a["name"]: a["patients"] for a in manifest["archetypes"]}
    assert manifest["patients"] == 200 == sum(counts.values())
    assert list(counts) == [a.name for a in ARCHETYPES]
    tags = Counter(
        orjson.loads(line)["meta"]["tag"][0]["code"] for line in ndjson_lines(population)["Patient"]
    )
    assert tags == {name: n for name, n in counts.items() if n}


def test_manifest_resource_counts_match_the_files(population: Path, manifest: dict[str, Any]) -> None:
    lines = ndjson_lines(population)
    assert {f["type"]: f["resources"] for f in manifest["files"]} == {t: len(v) for t, v in lines.items()}


def test_manifest_states_the_instant_the_seed_and_the_expected_findings(manifest: dict[str, Any]) -> None:
    assert (manifest["at"], manifest["seed"], manifest["gzip"]) == ("2026-01-15T12:00:00Z", SEED, False)
    expected = Counter[str]()
    for a in manifest["archetypes"]:
        for rule in a["expected"]["batch"]:
            expected[rule] += a["patients"]
        assert set(a["expected"]["batch"]) <= set(a["expected"]["patient-view"])
    assert manifest["expected_findings"]["batch"] == dict(expected)


def test_the_mix_has_plain_patients_and_findings_of_many_rules(manifest: dict[str, Any]) -> None:
    plain = next(a for a in manifest["archetypes"] if a["name"] == "nothing-to-find")
    assert 0.4 * 200 <= plain["patients"] <= 0.7 * 200
    assert len(manifest["expected_findings"]["patient-view"]) >= 15


def test_cli_writes_the_population_and_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["synth", "--patients", "30", "--out", str(tmp_path), "--seed", "9"]
    assert main([*argv, "--at", "2026-01-15T12:00:00Z", "--gzip"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "30 patients" in out
    assert "evaluate at 2026-01-15T12:00:00Z" in out
    assert len(ndjson_lines(tmp_path)["Patient"]) == 30


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--patients", "-3", "--out", "x"],
        ["synth", "--patients", "ten", "--out", "x"],
        ["synth", "--patients", "3", "--out", "x", "--seed", "-1"],
        ["synth", "--out", "x"],
    ],
)
def test_cli_rejects_bad_arguments_with_exit_code_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_cli_reports_an_unwritable_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["synth", "--patients", "3", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("osteoalert: ") and err.count("\n") == 1


def _peak_bytes(out: Path, patients: int) -> int:
    tracemalloc.start()
    try:
        synth(out, patients)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_patients(tmp_path: Path) -> None:
    small = _peak_bytes(tmp_path / "small", 100)
    large = _peak_bytes(tmp_path / "large", 1000)
    assert large < small + 2 * 2**20, (small, large)  # 10x the patients, < 2 MiB more


def test_a_rerun_in_the_other_format_leaves_no_stale_files(tmp_path: Path) -> None:
    synth(tmp_path, 5)
    synth(tmp_path, 5, gz=True)
    expected = [MANIFEST, *(f"{t}.ndjson.gz" for t in TYPES)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)

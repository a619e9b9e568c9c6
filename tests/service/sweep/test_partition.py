"""Partitioning: every line read once, each patient's lines in one shard, nothing lost silently."""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from service.sweep.partition import owners_path, partition_file, shard_dir, shared_dir
from service.sweep.reads import Reads
from service.sweep.routing import ChunkRouter, Route, route_lines, shard_of
from service.sweep.sources import NdjsonSource, SourceFile, folder_files, read_chunks
from tests.fhir_bundles import ICD10CM, RXNORM
from tests.service.sweep.population import default_engine, read_ndjson, samples_folder, write_folder

P1 = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-01-01"}
SUBJECT = {"reference": "Patient/p1"}
READS = Reads.of(default_engine().codesets)  # what the snapshot reads: the rest is left out


def sidecar_owners(part: Path) -> list[str]:
    """The owner of each line of a shard part, from the runs of its sidecar."""
    runs = [run for line in owners_path(part).read_bytes().splitlines() for run in orjson.loads(line)]
    return [owner for owner, n, _size in runs for _ in range(n)]


def shard_lines(work: Path, shards: int) -> list[list[tuple[str, bytes]]]:
    """(owner, line) of every line of every shard, in part order."""
    return [
        list(zip(sidecar_owners(part), part.read_bytes().splitlines(), strict=True))
        for k in range(shards)
        for part in sorted(shard_dir(work, k).glob("*.ndjson"))
    ]


def obs(oid: str, subject: str | None) -> dict[str, object]:
    code = {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]}
    o: dict[str, object] = {"resourceType": "Observation", "id": oid, "status": "final", "code": code}
    if subject is not None:
        o["subject"] = {"reference": subject}
    return o


def test_the_shard_of_a_patient_is_stable_and_within_range() -> None:
    assert shard_of("Patient/p1", 16) == shard_of("Patient/p1", 16)
    assert {shard_of(f"Patient/{i}", 7) for i in range(500)} == set(range(7))
    assert shard_of("Patient/p1", 1) == 0
    # A fixed value: shards must not move between processes, machines or Python versions.
    assert shard_of("Patient/p1", 1_000_003) == 509_687


@pytest.mark.parametrize(
    ("reference", "owner"),
    [
        ("Patient/p1", "Patient/p1"),
        ("Patient/p1/_history/3", "Patient/p1"),
        ("https://ehr.example.org/fhir/Patient/p1", "Patient/p1"),
        ("Group/g1", None),
    ],
)
def test_subject_references_in_any_form_name_the_same_patient(reference: str, owner: str | None) -> None:
    [(route, _, who)] = list(route_lines(orjson.dumps(obs("o1", reference))))
    assert (route, who or None) == ((Route.PATIENT, owner) if owner else (Route.UNOWNED, None))


@pytest.mark.parametrize(
    ("line", "route", "problem"),
    [
        (orjson.dumps(P1), Route.PATIENT, ""),
        (b'{"resourceType":"Medication","id":"m1"}', Route.SHARED, ""),
        (b'{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"}}', Route.SKIP, ""),
        (b'{"resourceType":"FutureType","id":"x"}', Route.SKIP, ""),
        (b'{"resourceType":"Observation","id":"o1"}', Route.UNOWNED, ""),
        (b'{"resourceType":"Patient","gender":"male"}', Route.BAD, "without id"),
        (b'{"resourceType":"Observation","id":"o1","subject":"Patient/p1"}', Route.BAD, "wrong JSON type"),
        (b'{"resourceType":"Bundle","type":"collection"}', Route.BAD, "Bundle"),
        (b'{"resourceType": "Observation", "id": ', Route.BAD, "not JSON"),
        (b'["Observation"]', Route.BAD, "not a JSON object"),
        (b'{"id":"x"}', Route.BAD, "no resourceType"),
    ],
)
def test_each_line_is_routed_or_its_problem_is_said(line: bytes, route: str, problem: str) -> None:
    good = orjson.dumps(obs("o9", "Patient/p9"))
    routed = list(route_lines(good + b"\n" + line + b"\n\n" + good))
    assert [r[0] for r in routed] == [Route.PATIENT, route, Route.PATIENT]  # one bad line spoils nothing
    assert problem in routed[1][2]


def test_every_patients_lines_land_in_one_shard_and_none_is_lost(tmp_path: Path) -> None:
    source = samples_folder(tmp_path / "in", gz=True)
    work = tmp_path / "work"
    stats = [partition_file(f, work, 4) for f in folder_files(source)]
    shards_of: dict[str, set[int]] = defaultdict(set)
    written = 0
    for k in range(4):
        for part in sorted(shard_dir(work, k).glob("*.ndjson")):
            for chunk in read_chunks(SourceFile(part, "")):
                for _, _, owner in route_lines(chunk):
                    shards_of[owner].add(k)
                    written += 1
    assert len(shards_of) == 45
    assert all(len(s) == 1 for s in shards_of.values())
    assert written == sum(s.routed for s in stats) == sum(s.lines for s in stats)


def test_medications_go_to_the_shared_part_and_problems_are_recorded_with_their_line(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "Observation.ndjson").write_bytes(
        orjson.dumps(obs("o1", "Patient/p1")) + b"\nnot json\n" + orjson.dumps(obs("o2", None)) + b"\n"
    )
    write_folder(folder, [{"resourceType": "Medication", "id": "m1"}])
    work = tmp_path / "work"
    files = {f.resource_type: f for f in folder_files(folder)}
    for f in files.values():
        partition_file(f, work, 3)
    medication = {"resourceType": "Medication", "id": "m1"}
    assert read_ndjson(shared_dir(work) / files["Medication"].part_name) == [medication]
    problems = read_ndjson(work / "problems" / f"partition-{files['Observation'].part_name}")
    assert [(p["kind"], p["line"]) for p in problems] == [("bad-line", 2), ("unowned", None)]


def test_types_the_rules_never_read_are_skipped_by_file_name(tmp_path: Path) -> None:
    for name in ("Encounter.ndjson", "Observation.ndjson.gz", "Observation.002.ndjson", "export.ndjson"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "manifest.json").write_bytes(b"{}")
    files = {f.path.name: f.read_by_rules for f in folder_files(tmp_path)}
    assert files == {
        "Encounter.ndjson": False,
        "Observation.002.ndjson": True,
        "Observation.ndjson.gz": True,
        "export.ndjson": True,  # a name that names no type: its lines say what they are
    }


def test_chunks_end_at_line_boundaries_even_for_lines_longer_than_a_chunk(tmp_path: Path) -> None:
    lines = [b"a" * 10, b"b" * 100, b"c" * 3]
    path = tmp_path / "x.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    chunks = list(read_chunks(SourceFile(path, ""), size=16))
    assert b"".join(chunks).split(b"\n") == lines
    assert all(c.endswith(b"\n") for c in chunks[:-1])


def test_a_gzip_file_size_is_estimated_from_its_trailer(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson.gz"
    path.write_bytes(gzip.compress(b"x" * 100_000))
    assert SourceFile(path, "Patient").estimated_bytes() == 100_000


def test_a_later_layer_deletes_earlier_copies(tmp_path: Path) -> None:
    base = write_folder(tmp_path / "1", [P1, obs("o1", "Patient/p1"), obs("o2", "Patient/p1")])
    delta = write_folder(tmp_path / "2", [obs("o3", "Patient/p1")])
    (delta / "deleted").mkdir()
    deletion = {"resourceType": "Bundle", "type": "transaction",
                "entry": [{"request": {"method": "DELETE", "url": "Observation/o1"}}]}  # fmt: skip
    (delta / "deleted" / "Bundle.ndjson").write_bytes(orjson.dumps(deletion) + b"\n")
    source = NdjsonSource.of([base, delta])
    deleted = source.deleted()
    assert deleted == {"Observation/o1": 1}
    work = tmp_path / "work"
    stats = [partition_file(f, work, 1, deleted) for f in source.files()]
    kept = [
        r["id"] for part in sorted(shard_dir(work, 0).glob("*Observation.ndjson")) for r in read_ndjson(part)
    ]
    assert kept == ["o2", "o3"]
    assert sum(s.deleted for s in stats) == 1


def test_no_line_is_lost_across_chunks_and_flushes(tmp_path: Path) -> None:
    padding = "x" * 1000  # ~24 MB in all: several 4 MiB chunks and 8 MiB flushes
    lines = []
    for i in range(24_000):
        if i % 10 == 0:
            lines.append(orjson.dumps({"resourceType": "Medication", "id": f"m{i}", "text": padding}))
        else:
            o = obs(f"o{i}", f"Patient/p{i % 97}") | {"note": [{"text": padding}]}
            lines.append(orjson.dumps(o))
    source = tmp_path / "in"
    source.mkdir()
    (source / "mixed.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    work = tmp_path / "work"
    [file] = folder_files(source)
    stats = partition_file(file, work, 5)
    ids = [
        r["id"] for k in range(5) for part in shard_dir(work, k).glob("*.ndjson") for r in read_ndjson(part)
    ]
    shared = [r["id"] for r in read_ndjson(shared_dir(work) / file.part_name)]
    assert sorted(ids) == sorted(f"o{i}" for i in range(24_000) if i % 10)
    assert shared == [f"m{i}" for i in range(0, 24_000, 10)]
    assert (stats.routed, stats.shared) == (21_600, 2_400)
    for k in range(5):
        for part in shard_dir(work, k).glob("*.ndjson"):
            assert sidecar_owners(part) == [r["subject"]["reference"] for r in read_ndjson(part)]


@pytest.mark.parametrize(
    ("code", "extra", "kept"),
    [
        ("17861-6", {"valueQuantity": {"value": 9.5, "unit": "mg/dL"}}, True),  # calcium: in a code set
        ("8867-4", {"valueQuantity": {"value": 72, "unit": "/min"}}, False),  # heart rate: never read
        ("85354-9", {"component": [{"code": {"coding": [{"code": "8480-6"}]}}]}, False),  # blood pressure
        ("85354-9", {"component": [{"code": {"text": "systolic"}}, {}]}, False),  # no component coded
        ("99999-9", {"component": [{"code": {"coding": [{"code": "48642-3"}]}}]}, True),  # an eGFR panel
        ("99999-9", {"component": [{"code": {"coding": "48642-3"}}]}, True),  # malformed: to be rejected
        ("99999-9", {"component": [{"code": {"coding": [{"code": "48642-3"}]}}], "valueQuantity": {}}, False),
        ("8867-4", {"valueQuantity": {"value": "seventy"}}, False),  # not read, so not checked either
    ],
)
def test_observations_the_snapshot_never_reads_are_left_out_of_the_shards(
    tmp_path: Path, code: str, extra: dict[str, object], kept: bool
) -> None:
    o = obs("o1", "Patient/p1") | extra
    o["code"] = {"coding": [{"system": "http://loinc.org", "code": code}]}
    assert_read_by_both_paths(tmp_path, o, kept)


def test_an_observation_with_a_malformed_code_goes_to_its_patient_to_be_rejected_there() -> None:
    o = obs("o1", "Patient/p1") | {"code": {"coding": "17861-6"}}
    [(route, _, owner)] = list(route_lines(orjson.dumps(o), READS))
    assert (route, owner) == (Route.PATIENT, "Patient/p1")


def assert_read_by_both_paths(tmp_path: Path, resource: Mapping[str, object], kept: bool) -> None:
    """The careful path (`route_lines`) and the fast path (`partition_file`) keep `resource` for its
    patient's shard, or leave it out, alike; without `Reads`, it is always kept."""
    line = orjson.dumps(resource)
    [(route, _, _)] = list(route_lines(line, READS))
    assert route == (Route.PATIENT if kept else Route.SKIP)
    [(unfiltered, _, _)] = list(route_lines(line))
    assert unfiltered == Route.PATIENT
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / f"{resource['resourceType']}.ndjson").write_bytes(line + b"\n")
    [file] = folder_files(folder)
    stats = partition_file(file, tmp_path / "work", 2, None, READS)
    assert (stats.routed, stats.skipped) == ((1, 0) if kept else (0, 1))


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ({"coding": [{"system": ICD10CM, "code": "M81.0"}]}, True),  # osteoporosis
        ({"coding": [{"system": ICD10CM, "code": "F32.9"}]}, False),  # depression
        ({"coding": [{"code": "F32.9"}, {"system": "http://snomed.info/sct", "code": "64859006"}]}, True),
        ({"coding": "M81.0"}, True),  # malformed: to its patient, to be rejected there
        (None, False),
        ({"text": "osteoporosis"}, False),  # a problem without a coding is not in any set (conditions.py)
    ],
)
def test_conditions_the_snapshot_never_reads_are_left_out_of_the_shards(
    tmp_path: Path, code: dict[str, object] | None, kept: bool
) -> None:
    c = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}, "code": code}
    assert_read_by_both_paths(tmp_path, c, kept)


@pytest.mark.parametrize("kind", ["MedicationRequest", "MedicationStatement", "MedicationAdministration"])
@pytest.mark.parametrize(
    ("medication", "kept"),
    [
        ({"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "8640"}]}}, True),  # prednisone
        ({"medicationCodeableConcept": {"text": "prednisone 5 MG oral tablet"}}, True),  # by its text
        (
            {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "308182"}]}},
            False,
        ),  # amoxicillin
        ({"medicationCodeableConcept": {"text": "amoxicillin 500 MG"}}, False),
        ({"medicationReference": {"reference": "Medication/m1"}}, True),  # its Medication decides later
        ({"medicationReference": {"reference": "#m1"}, "contained": [{"resourceType": "Medication"}]}, True),
        ({"medicationReference": None, "medicationCodeableConcept": {"text": "amoxicillin"}}, False),
        ({"medicationCodeableConcept": {"coding": "8640"}}, True),  # malformed: to be rejected by its patient
        ({}, False),
    ],
)
def test_medication_records_the_snapshot_never_reads_are_left_out_of_the_shards(
    tmp_path: Path, kind: str, medication: dict[str, object], kept: bool
) -> None:
    m = {"resourceType": kind, "id": "m1", "status": "active", "subject": SUBJECT} | medication
    assert_read_by_both_paths(tmp_path, m, kept)


def test_a_large_plain_file_is_partitioned_in_pieces_that_give_the_same_shards(tmp_path: Path) -> None:
    source = samples_folder(tmp_path / "in")
    [observations] = [f for f in folder_files(source) if f.resource_type == "Observation"]
    pieces = observations.pieces(size=5_000)
    assert len(pieces) > 3
    data = observations.path.read_bytes()
    assert b"".join(b"".join(read_chunks(p, size=1_000)) for p in pieces) == data
    assert all(p.start == 0 or data[p.start - 1 : p.start] == b"\n" for p in pieces)
    assert [p.part_name for p in pieces] == sorted(p.part_name for p in pieces)
    whole, split = tmp_path / "whole", tmp_path / "split"
    partition_file(observations, whole, 3)
    for piece in pieces:
        partition_file(piece, split, 3)
    for k in range(3):
        joined = b"".join(p.read_bytes() for p in sorted(shard_dir(split, k).glob("*.ndjson")))
        assert joined == b"".join(p.read_bytes() for p in sorted(shard_dir(whole, k).glob("*.ndjson")))


def test_a_gzip_file_stays_whole(tmp_path: Path) -> None:
    source = samples_folder(tmp_path / "in", gz=True)
    [observations] = [f for f in folder_files(source) if f.resource_type == "Observation"]
    assert observations.pieces(size=100) == [observations]


def careful_shards(file: SourceFile, shards: int, reads: Reads | None) -> list[list[tuple[str, bytes]]]:
    """What `partition_file` must write: each line routed one by one by `route_lines`."""
    out: list[list[tuple[str, bytes]]] = [[] for _ in range(shards)]
    for chunk in read_chunks(file):
        for route, line, owner in route_lines(chunk, reads):
            if route == Route.PATIENT:
                out[shard_of(owner, shards)].append((owner, line))
    return out


@pytest.mark.fixtures
@pytest.mark.parametrize("filtered", [True, False])
def test_the_fast_path_routes_every_synthea_line_as_the_careful_path_does(
    shared_fixtures: Path, tmp_path: Path, filtered: bool
) -> None:
    reads = READS if filtered else None
    for file in folder_files(shared_fixtures / "synthea-r4-2019" / "ndjson"):
        work = tmp_path / f"{file.part_name}-{filtered}"
        stats = partition_file(file, work, 3, reads=reads)
        expected = careful_shards(file, 3, reads)
        got: list[list[tuple[str, bytes]]] = [[] for _ in range(3)]
        for k in range(3):
            for part in sorted(shard_dir(work, k).glob("*.ndjson")):
                got[k] += zip(sidecar_owners(part), part.read_bytes().splitlines(), strict=True)
        assert got == expected, file.path.name
        assert stats.routed == sum(map(len, expected))
        assert stats.lines == stats.routed + stats.skipped + stats.shared + stats.unowned + stats.bad


def test_the_fast_path_and_the_careful_path_agree_on_odd_lines(tmp_path: Path) -> None:
    calcium = {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]}
    osteoporosis = {"coding": [{"system": ICD10CM, "code": "M81.0"}]}
    depression = {"coding": [{"system": ICD10CM, "code": "F32.9"}]}
    amoxicillin = {"coding": [{"system": RXNORM, "code": "308182"}], "text": "amoxicillin 500 MG"}
    prednisone = {"coding": [{"system": RXNORM, "code": "8640"}]}
    egfr = {
        "code": {"coding": [{"system": "http://loinc.org", "code": "48642-3"}]},
        "valueQuantity": {"value": 40},
    }
    pulse = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "pulse"}
    odd = [
        obs("a", "Patient/p1") | {"code": calcium},
        obs("b", "Patient/p1") | {"code": pulse},  # not read
        obs("c", "Patient/p1") | {"code": None},
        obs("d", "https://ehr.example.org/fhir/Patient/p2") | {"code": calcium},
        obs("e", None) | {"code": calcium},  # unowned
        obs("f", "Group/g1") | {"code": calcium},  # unowned
        obs("g", "Patient/p2") | {"code": pulse, "component": [egfr]},  # a panel: its eGFR is read
        obs("h", "Patient/p2") | {"code": pulse, "component": [{}], "valueQuantity": None},  # nothing coded
        obs("i", "Patient/p2") | {"code": {"coding": [{"code": "8867-4"}, {"code": "17861-6"}]}},
        P1,
        {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "code": osteoporosis},
        {"resourceType": "Condition", "id": "c2", "code": osteoporosis},  # unowned
        {"resourceType": "Condition", "id": "c3", "subject": SUBJECT, "code": depression},
        {"resourceType": "Condition", "id": "c4", "subject": SUBJECT},  # no code: not read
        {
            "resourceType": "MedicationRequest",
            "id": "r1",
            "subject": SUBJECT,
            "medicationCodeableConcept": amoxicillin,
        },
        {
            "resourceType": "MedicationRequest",
            "id": "r2",
            "subject": SUBJECT,
            "medicationCodeableConcept": prednisone,
        },
        {
            "resourceType": "MedicationStatement",
            "id": "r3",
            "subject": SUBJECT,
            "medicationReference": {"reference": "x"},
        },
        {"resourceType": "MedicationStatement", "id": "r4", "subject": SUBJECT, "medicationReference": None},
        {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Medication", "id": "m1"},
        obs("j", "Patient/p1") | {"code": calcium},
    ]
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [orjson.dumps(o) for o in odd]
    (folder / "mixed.ndjson").write_bytes(b"\n".join(lines) + b"\n\n  \n" + lines[0] + b"\n")
    [file] = folder_files(folder)
    assert ChunkRouter(READS).decode(file.path.read_bytes()) is not None  # the fast path is taken
    stats = partition_file(file, tmp_path / "work", 2, reads=READS)
    got = [pair for part in shard_lines(tmp_path / "work", 2) for pair in part]
    assert got == [pair for k in careful_shards(file, 2, READS) for pair in k]
    kept = {orjson.loads(line)["id"] for _, line in got}
    assert kept == {"a", "c1", "d", "g", "i", "j", "p1", "r2", "r3"}
    assert (stats.routed, stats.skipped, stats.shared, stats.unowned) == (10, 8, 1, 3)

"""Every public fixture file through the fast path and the strict (R4B) path, and every Synthea
patient through the snapshot builder.

The fast and the strict path must agree on what they accept and on every value the snapshot
holds. Where they legitimately differ (strict rejects elements we never read, such as the
abbreviations of the CDS Hooks spec examples), the difference is listed in DIFFERENCES and
asserted exactly: a new or a vanished difference fails the test.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from rules import Hook, Parameters, PatientSnapshot
from rules.snapshot import Analyte, DxaSite
from service.adapters import fhir_model as fm
from service.adapters.codesets import load_codesets
from service.adapters.fhir_assemble import PatientResources, assemble, assemble_by_patient
from service.adapters.fhir_decode import (
    Decoded,
    FhirInputError,
    decode_resources,
    iter_ndjson_resources,
    read_patient_bundle,
)
from service.adapters.fhir_snapshot import build_snapshot
from tests.conftest import SHARED_FIXTURES

pytestmark = pytest.mark.fixtures

AT = datetime(2021, 4, 1, tzinfo=UTC)  # the Synthea data runs up to 2021-03-31
SYNTHEA_TYPES = ("Patient", "Observation", "DiagnosticReport", "MedicationRequest", "Condition", "Procedure")


@dataclass(frozen=True)
class Difference:
    """How the strict path legitimately differs from the fast path on one input."""

    why: str
    strict_error: str | None = None  # strict refuses the whole input with this message
    strict_only: dict[str, str] = field(default_factory=dict)  # reference → rejection reason (part)


SPEC_ABBREVIATION = "CDS Hooks spec example abbreviated on purpose (SOURCES.md)"
DIFFERENCES: dict[str, Difference] = {
    "cds-hooks/spec-2.0.1/context-medication-refill.json#context/draftOrders": Difference(
        f"{SPEC_ABBREVIATION}: draftOrders Bundle without `type`", strict_error="Bundle.type"
    ),
    "cds-hooks/spec-2.0.1/context-order-sign-draftorders.json#context/draftOrders": Difference(
        f"{SPEC_ABBREVIATION}: draftOrders Bundle without `type`", strict_error="Bundle.type"
    ),
    "cds-hooks/spec-2.0.1/prefetch-data.json#prefetch/patient": Difference(
        f'{SPEC_ABBREVIATION}: a "..." key, which we never read',
        strict_only={"Patient/#(input)": "Patient....: Extra inputs are not permitted"},
    ),
    "cds-hooks/spec-2.0.1/prefetch-data.json#prefetch/hemoglobin-a1c": Difference(
        f'{SPEC_ABBREVIATION}: a "..." key, which we never read',
        strict_only={"Observation/#entry[0].resource": "Observation....: Extra inputs are not permitted"},
    ),
    "cds-hooks/hook-library/order-sign-request-r4.json#context/draftOrders": Difference(
        "hook-library example: doseQuantity directly under dosageInstruction (we read only"
        " doseAndRate.doseQuantity); a NutritionOrder (a type we never read) without intent",
        strict_only={
            "MedicationRequest/smart-MedicationRequest-103": "dosageInstruction.0.doseQuantity: Extra inputs",
            "NutritionOrder/pureeddiet-simple": "NutritionOrder.intent",
        },
    ),
    "cds-hooks/hook-library/order-select-request-r4.json#context/draftOrders": Difference(
        "hook-library example: a NutritionOrder (a type we never read) without intent; its"
        " MedicationRequest (doseAndRate as an object) is rejected by both paths",
        strict_only={"NutritionOrder/pureeddiet-simple": "NutritionOrder.intent"},
    ),
    "bulk-data/v2.0.0/export-output-file-example.ndjson": Difference(
        "bulk-data spec snippet (not valid FHIR): both reject the Patients for birthDate with a"
        " time; strict also names `name.family` as an array, which we never read",
    ),
}


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _cds_hooks_resources(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The FHIR resources a CDS Hooks JSON embeds: prefetch values and context.draftOrders."""
    doc = json.loads(data)
    for key, value in (doc.get("prefetch") or {}).items():
        if isinstance(value, dict):
            yield f"{name}#prefetch/{key}", json.dumps(value).encode()
    orders = (doc.get("context") or {}).get("draftOrders")
    if isinstance(orders, dict):
        yield f"{name}#context/draftOrders", json.dumps(orders).encode()


def fixture_inputs() -> list[tuple[str, Path]]:
    if not SHARED_FIXTURES.is_dir():
        return []
    return [
        (str(p.relative_to(SHARED_FIXTURES)), p)
        for p in sorted(SHARED_FIXTURES.rglob("*"))
        if p.is_file() and p.suffix in (".json", ".ndjson", ".gz")
    ]


def _inputs(name: str, path: Path) -> list[tuple[str, bytes]]:
    data = _read(path)
    if name.startswith("cds-hooks/"):
        embedded = list(_cds_hooks_resources(name, data))
        if embedded:
            return embedded
    return [(name, data)]


def _decode(data: bytes, strict: bool) -> Decoded | FhirInputError:
    try:
        return decode_resources(data, strict=strict)
    except FhirInputError as exc:
        return exc


def _snapshot(decoded: Decoded, keep: set[str]) -> PatientSnapshot:
    """The snapshot of the resources both paths accepted (a stand-in Patient when not exactly one)."""
    by_type = {kind: [r for r in group if r.ref in keep] for kind, group in decoded.by_type.items()}
    if len(by_type.get(fm.Patient, [])) != 1:
        by_type[fm.Patient] = [fm.Patient(ref="Patient/#fixture")]  # no id: no subject checks
    resources = assemble(by_type, (), decoded.refs)
    return build_snapshot(
        resources, at=AT, hook=Hook.ORDER_SIGN, selections=None, codesets=load_codesets(), params=Parameters()
    )


def _check_agreement(name: str, data: bytes) -> None:
    fast, strict = _decode(data, strict=False), _decode(data, strict=True)
    doc = DIFFERENCES.get(name, Difference("none"))
    if doc.strict_error is not None:
        assert isinstance(fast, Decoded), fast
        assert isinstance(strict, FhirInputError)
        assert doc.strict_error in str(strict)
        return
    if isinstance(fast, FhirInputError) or isinstance(strict, FhirInputError):
        assert str(fast) == str(strict), (name, fast, strict)
        return
    fast_rejected = {i.reference for i in fast.rejected}
    strict_rejected = {i.reference: i.reason for i in strict.rejected}
    assert fast_rejected <= set(strict_rejected), name
    extra = {ref: reason for ref, reason in strict_rejected.items() if ref not in fast_rejected}
    assert set(extra) == set(doc.strict_only), (name, extra)
    for ref, part in doc.strict_only.items():
        assert part in extra[ref], (ref, extra[ref])
    accepted_fast = {r.ref for r in fast.resources}
    accepted_strict = {r.ref for r in strict.resources}
    assert accepted_strict <= accepted_fast, name
    assert accepted_fast - accepted_strict == set(extra) & accepted_fast, name
    both = accepted_fast & accepted_strict
    assert _snapshot(fast, both) == _snapshot(strict, both), name


@pytest.mark.slow
@pytest.mark.parametrize(("name", "path"), fixture_inputs(), ids=[n for n, _ in fixture_inputs()])
def test_fast_and_strict_paths_agree_on_every_fixture_file(
    shared_fixtures: Path, name: str, path: Path
) -> None:
    for input_name, data in _inputs(name, path):
        _check_agreement(input_name, data)


def test_every_documented_difference_names_a_real_fixture_input(shared_fixtures: Path) -> None:
    names = {n for name, path in fixture_inputs() for n, _ in _inputs(name, path)}
    assert set(DIFFERENCES) <= names


# ---- Synthea: every patient builds -----------------------------------------------------------
@cache
def synthea_ndjson_patients() -> dict[str, PatientResources | FhirInputError]:
    folder = SHARED_FIXTURES / "synthea-r4-2019" / "ndjson"

    def lines() -> Iterator[bytes]:
        for rtype in SYNTHEA_TYPES:
            with gzip.open(folder / f"{rtype}.ndjson.gz", "rb") as fh:
                yield from fh

    return assemble_by_patient(iter_ndjson_resources(lines()))


def _build(resources: PatientResources, hook: Hook = Hook.PATIENT_VIEW) -> PatientSnapshot:
    return build_snapshot(
        resources, at=AT, hook=hook, selections=None, codesets=load_codesets(), params=Parameters()
    )


@pytest.mark.slow
@pytest.mark.parametrize("hook", [Hook.PATIENT_VIEW, Hook.ORDER_SIGN, Hook.BATCH])
def test_every_synthea_ndjson_patient_builds_a_snapshot(shared_fixtures: Path, hook: Hook) -> None:
    patients = synthea_ndjson_patients()
    assert len(patients) == 615
    reasons: Counter[str] = Counter()
    for owner, resources in patients.items():
        assert isinstance(resources, PatientResources), (owner, resources)
        snap = _build(resources, hook)
        assert snap.patient == owner
        reasons.update(i.reason for i in snap.ignored)
    # The only thing Synthea gets wrong for us: eGFR inside its panels in mL/min (see below).
    assert reasons == {"unit-unrecognised": 823}


def test_synthea_egfr_in_ml_per_min_is_ignored_as_unit_unrecognised(shared_fixtures: Path) -> None:
    """Synthea writes eGFR 33914-3 with mL/min/{1.73_m2} (1332 standalone results) but mL/min inside
    its metabolic panels (823): mL/min is a clearance, not an eGFR per 1.73 m², so never normalised."""
    labs: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    for resources in synthea_ndjson_patients().values():
        assert isinstance(resources, PatientResources)
        snap = _build(resources)
        labs.update(lab.reported_unit for lab in snap.labs if lab.analyte is Analyte.EGFR)
        ignored.update(i.reason for i in snap.ignored if i.reason == "unit-unrecognised")
    assert labs == {"mL/min/{1.73_m2}": 1332}
    assert ignored == {"unit-unrecognised": 823}


def test_synthea_dxa_t_scores_38265_5_are_read_without_a_contradicting_body_site(
    shared_fixtures: Path,
) -> None:
    scores = [
        s
        for r in synthea_ndjson_patients().values()
        if isinstance(r, PatientResources)
        for s in _build(r).dxa_scores
    ]
    assert len(scores) == 58
    assert {(s.kind, s.site, s.code, s.radius_contradicted) for s in scores} == {
        ("T", DxaSite.RAD, "38265-5", False)
    }


def test_synthea_medications_resolve_to_their_classes(shared_fixtures: Path) -> None:
    found: Counter[tuple[str, str | None]] = Counter()
    for r in synthea_ndjson_patients().values():
        assert isinstance(r, PatientResources)
        for m in _build(r).medications:
            found.update((c, m.route) for c in m.classes if c in ("BP", "GC", "GNRH", "THIAZIDE", "LOOP"))
    assert found[("BP", "systemic")] == 34  # alendronic acid oral tablets
    assert found[("GC", "systemic")] == 9  # prednisone oral tablets
    assert found[("GC", "non-systemic")] == 17  # hydrocortisone topical cream
    assert found[("GNRH", "systemic")] == 13  # leuprolide prefilled syringes
    assert found[("THIAZIDE", None)] == 173  # "Hydrochlorothiazide 25 MG": no dose form, route unknown


def _bundles() -> list[Path]:
    folder = SHARED_FIXTURES / "synthea-r4-2019" / "bundles"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.parametrize("path", _bundles(), ids=[p.name[:24] for p in _bundles()])
def test_every_synthea_bundle_builds_the_same_snapshot_as_its_ndjson_patient(
    shared_fixtures: Path, path: Path
) -> None:
    """Transaction Bundle (urn:uuid references, Claims, EOBs) and bulk NDJSON of the same patient agree."""
    from_bundle = _build(read_patient_bundle(path.read_bytes()))
    from_ndjson = synthea_ndjson_patients()[from_bundle.patient]
    assert isinstance(from_ndjson, PatientResources)
    assert from_bundle == _build(from_ndjson)

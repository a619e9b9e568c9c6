"""Raw FHIR JSON bytes → PatientResources: input shapes, errors, per-resource rejection, references."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from service.adapters import fhir_model as fm
from service.adapters.fhir_assemble import assemble, patient_reference
from service.adapters.fhir_decode import (
    Decoded,
    FhirInputError,
    PatientResources,
    decode_resources,
    iter_ndjson_resources,
    read_patient_bundle,
)
from tests.service.adapters.fhir_json import (
    RXNORM,
    Json,
    bundle,
    concept,
    med_request,
    obs,
    patient,
)


def _bundle(*resources: Json, kind: str = "collection", urls: list[str] | None = None) -> bytes:
    entries: list[Json] = []
    for i, r in enumerate(resources):
        entry: Json = {"resource": r}
        if urls is not None and urls[i]:
            entry["fullUrl"] = urls[i]
        entries.append(entry)
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": entries})


def _robust(data: bytes, *, ndjson: bool = False) -> PatientResources:
    """The per-resource path, which the fast path must agree with."""
    out = Decoded()
    if ndjson:
        from service.adapters.fhir_decode import _ndjson  # noqa: PLC0415

        _ndjson(out, data)
    else:
        out.add(data, "(input)", None)
    return assemble(out.by_type, out.rejected, out.refs)


def _same(a: PatientResources, b: PatientResources) -> bool:
    def dump(r: PatientResources) -> object:
        return msgspec.to_builtins(
            [
                r.patient,
                r.observations,
                r.diagnostic_reports,
                r.medication_requests,
                r.medication_statements,
                r.medication_administrations,
                r.conditions,
                r.procedures,
                dict(r.medications),
                r.rejected,
            ]
        )

    return dump(a) == dump(b)


# ---- input shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["collection", "transaction", "searchset", "batch", "document", "history"])
def test_a_bundle_of_any_type_is_read(kind: str) -> None:
    r = read_patient_bundle(_bundle(patient(), obs("2000-8", 2.5, "mmol/L"), kind=kind))
    assert r.patient.ref == "Patient/p1"
    assert [o.ref for o in r.observations] == ["Observation/o1"]


def test_a_single_patient_is_read() -> None:
    r = read_patient_bundle(orjson.dumps(patient(gender="male")))
    assert r.patient.gender == "male"
    assert r.observations == ()


def test_ndjson_lines_of_one_patient_are_read() -> None:
    lines = [patient(), obs("2000-8", 2.5, "mmol/L"), {"resourceType": "Encounter", "id": "e1"}]
    data = b"\n".join(orjson.dumps(x) for x in lines) + b"\n"
    r = read_patient_bundle(data)
    assert r.patient.ref == "Patient/p1"
    assert len(r.observations) == 1
    assert _same(r, _robust(data, ndjson=True))


def test_nested_bundles_are_read() -> None:
    inner = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": obs("2000-8", 2.4, "mmol/L")}],
    }
    r = read_patient_bundle(_bundle(patient(), inner))
    assert [o.ref for o in r.observations] == ["Observation/o1"]


def test_pretty_printed_json_with_resource_type_not_first_is_read() -> None:
    o = obs("2000-8", 2.5, "mmol/L")
    shuffled = {k: o[k] for k in reversed(list(o))}
    data = orjson.dumps(
        {
            "entry": [{"resource": patient()}, {"resource": shuffled}],
            "resourceType": "Bundle",
            "type": "collection",
        },
        option=orjson.OPT_INDENT_2,
    )
    assert len(read_patient_bundle(data).observations) == 1


def test_types_the_rules_never_read_are_skipped() -> None:
    r = read_patient_bundle(
        _bundle(
            patient(),
            {"resourceType": "Claim", "id": "x", "total": "oops"},
            {"resourceType": "MadeUpType", "id": "y"},
        )
    )
    assert r.rejected == ()


# ---- errors on the whole input ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>not json</html>", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a FHIR resource: expected a JSON object"),
        (b'{"hello": "world"}', "not a FHIR resource: no resourceType"),
        (b'{"resourceType": "Bundle", "entry": {}}', "Bundle.entry: expected an array, got object"),
        (_bundle(obs("2000-8", 2.5, "mmol/L")), "no Patient resource in the input"),
        (_bundle(patient("a"), patient("b")), "more than one Patient in the input (Patient/a, Patient/b)"),
        (
            b'{"resourceType":"Patient","id":"p1"}\nnot json\n',
            "no Patient",
        ),  # a bad line is rejected alone...
        (b'not json\n{"resourceType":"Patient","id":"p1"}\n', "not JSON"),  # ...unless it is line 1
        (orjson.dumps(patient(birth="1956-10-14T00:00:00.000Z")), "Patient.birthDate: not a FHIR date"),
    ],
)
def test_input_that_is_not_one_patient_raises_one_clear_line(data: bytes, message: str) -> None:
    if message == "no Patient":
        r = read_patient_bundle(data)  # the Patient line is fine; the bad line is rejected on its own
        assert [i.reason.split(":")[:3] for i in r.rejected] == [["invalid-resource", " line 2", " not JSON"]]
        return
    with pytest.raises(FhirInputError) as err:
        read_patient_bundle(data)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_same_patient_twice_is_one_patient() -> None:
    r = read_patient_bundle(_bundle(patient(), patient()))
    assert r.patient.ref == "Patient/p1"


# ---- per-resource rejection ------------------------------------------------------------------
def test_a_wrong_type_in_a_field_we_read_rejects_that_resource_only() -> None:
    bad = obs("2000-8", 2.5, "mmol/L", oid="bad")
    bad["valueQuantity"]["value"] = "2.5"
    data = _bundle(patient(), bad, obs("2000-8", 2.4, "mmol/L", oid="good"))
    r = read_patient_bundle(data)
    assert [o.ref for o in r.observations] == ["Observation/good"]
    assert [(i.reference, i.reason) for i in r.rejected] == [
        (
            "Observation/bad",
            "invalid-resource: entry[1].resource: "
            "Observation.valueQuantity.value: expected a number, got str",
        )
    ]
    assert _same(r, _robust(data))


def test_a_wrong_type_in_a_field_we_never_read_is_accepted() -> None:
    o = obs("2000-8", 2.5, "mmol/L") | {"note": "should be a list", "category": 7}
    assert len(read_patient_bundle(_bundle(patient(), o)).observations) == 1


# ---- references ------------------------------------------------------------------------------
def test_urn_uuid_references_resolve_like_synthea_transaction_bundles() -> None:
    o = obs("2000-8", 2.5, "mmol/L") | {"subject": {"reference": "urn:uuid:pat"}}
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"text": "panel"},
        "subject": {"reference": "urn:uuid:pat"},
        "result": [{"reference": "urn:uuid:obs"}],
    }
    data = _bundle(
        patient(), o, report, kind="transaction", urls=["urn:uuid:pat", "urn:uuid:obs", "urn:uuid:rep"]
    )
    r = read_patient_bundle(data)
    assert r.rejected == ()
    assert r.diagnostic_reports[0].result[0].reference == "Observation/o1"
    assert _same(r, _robust(data))


@pytest.mark.parametrize(
    "reference",
    [
        "Observation/o1",
        "http://example.org/fhir/Observation/o1",
        "http://example.org/fhir/Observation/o1/_history/3",
    ],
)
def test_absolute_and_versioned_references_resolve_to_type_and_id(reference: str) -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "result": [{"reference": reference}],
    }
    r = read_patient_bundle(_bundle(patient(), obs("2000-8", 2.5, "mmol/L"), report))
    assert r.diagnostic_reports[0].result[0].reference == "Observation/o1"


def test_a_contained_medication_is_found_by_its_local_reference() -> None:
    med = {"resourceType": "Medication", "id": "med", "code": concept(RXNORM, "904419")}
    req = med_request(mid="m1") | {"contained": [med], "medicationReference": {"reference": "#med"}}
    r = read_patient_bundle(bundle(req))
    key = r.medication_requests[0].medication_reference
    assert key is not None
    assert key.reference == "MedicationRequest/m1#med"
    assert r.medications["MedicationRequest/m1#med"].code == fm.CodeableConcept(
        (fm.Coding(RXNORM, "904419", "904419"),)
    )


def test_a_bundled_medication_is_found_by_urn_uuid() -> None:
    med = {"resourceType": "Medication", "id": "med", "code": concept(RXNORM, "904419")}
    req = med_request() | {"medicationReference": {"reference": "urn:uuid:m"}}
    r = read_patient_bundle(_bundle(patient(), med, req, urls=["", "urn:uuid:m", ""]))
    ref = r.medication_requests[0].medication_reference
    assert ref is not None
    assert ref.reference == "Medication/med"
    assert "Medication/med" in r.medications


def test_resources_about_another_patient_are_left_out() -> None:
    other = obs("2000-8", 2.5, "mmol/L", oid="o2") | {"subject": {"reference": "Patient/someone-else"}}
    r = read_patient_bundle(_bundle(patient(), obs("2000-8", 2.4, "mmol/L"), other))
    assert [o.ref for o in r.observations] == ["Observation/o1"]
    assert r.rejected[0].reason == "other-patient: subject is Patient/someone-else, not Patient/p1"


def test_a_resource_present_twice_is_kept_once_the_last_copy() -> None:
    first = obs("2000-8", 2.4, "mmol/L")
    second = obs("2000-8", 2.6, "mmol/L")
    r = read_patient_bundle(_bundle(patient(), first, second))
    assert len(r.observations) == 1
    assert r.observations[0].value_quantity == fm.Quantity(
        2.6, None, "mmol/L", "http://unitsofmeasure.org", "mmol/L"
    )


def test_resources_without_id_get_a_unique_local_reference() -> None:
    a = obs("2000-8", 2.4, "mmol/L")
    b = obs("2000-8", 2.6, "mmol/L")
    del a["id"], b["id"]
    r = read_patient_bundle(_bundle(patient(), a, b))
    assert len({o.ref for o in r.observations}) == 2


# ---- the fast path and the per-resource path agree -------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [
        {"resourceType": "Foo", "id": "unknown-type"},  # not in the union: the fast path steps aside
        {"resourceType": "Encounter", "id": 5},  # a skipped type with a bad id
        {"resourceType": "Observation", "id": "x", "status": 1},
    ],
)
def test_the_fast_path_falls_back_to_the_per_resource_path_and_agrees(extra: Json) -> None:
    data = _bundle(patient(), obs("2000-8", 2.5, "mmol/L"), extra)
    assert _same(read_patient_bundle(data), _robust(data))


# ---- strict ----------------------------------------------------------------------------------
def test_strict_rejects_what_the_r4b_models_reject_even_in_fields_we_never_read() -> None:
    o = obs("2000-8", 2.5, "mmol/L") | {"note": "should be a list"}
    r = read_patient_bundle(_bundle(patient(), o), strict=True)
    assert r.observations == ()
    assert r.rejected[0].reference == "Observation/o1"
    assert r.rejected[0].reason.startswith("invalid-resource: entry[1].resource: Observation.note")


def test_strict_accepts_valid_resources_with_the_same_values() -> None:
    data = _bundle(patient(), obs("2000-8", 2.5, "mmol/L"))
    assert read_patient_bundle(data, strict=True).observations == read_patient_bundle(data).observations


def test_strict_also_needs_our_own_reading_to_succeed() -> None:
    o = obs("2000-8", 2.5, "mmol/L")
    o["valueQuantity"]["value"] = "2.5"  # the R4B model coerces the string; we do not
    r = read_patient_bundle(_bundle(patient(), o), strict=True)
    assert r.observations == ()


def test_strict_refuses_an_invalid_bundle_envelope() -> None:
    data = orjson.dumps({"resourceType": "Bundle", "entry": [{"resource": patient()}]})
    assert read_patient_bundle(data).patient.ref == "Patient/p1"
    with pytest.raises(FhirInputError, match=r"Bundle\.type"):
        read_patient_bundle(data, strict=True)


# ---- NDJSON for population sweeps ------------------------------------------------------------
def test_ndjson_resources_come_one_per_line_with_rejections() -> None:
    bad = obs("2000-8", 2.5, "mmol/L", oid="bad") | {"status": 3}
    lines = [
        orjson.dumps(x) for x in (patient(), obs("2000-8", 2.5, "mmol/L"), bad, {"resourceType": "Encounter"})
    ]
    items = list(iter_ndjson_resources([*lines, b"", b"{oops"]))
    kinds = [type(x).__name__ for x in items]
    assert kinds == ["Patient", "Observation", "Ignored", "Ignored"]
    assert [patient_reference(x) for x in items if isinstance(x, fm.Resource)] == ["Patient/p1", "Patient/p1"]


def test_decode_resources_reads_inputs_without_a_patient() -> None:
    d = decode_resources(orjson.dumps(obs("2000-8", 2.5, "mmol/L")))
    assert [r.ref for r in d.resources] == ["Observation/o1"]

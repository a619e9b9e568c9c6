"""The one-call decoding paths agree with the per-resource path they stand in for.

`Decoded.add_document` (prefetch values, search pages), `read_document`, the NDJSON-first reading of
a whole input, and `iter_ndjson_resources` over a list of lines (batched msgspec calls) must give
exactly what resource-by-resource decoding gives, rejections and their wording included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import orjson
import pytest

from rules import Hook
from service.adapters import fhir_model as fm
from service.adapters.cds_discovery import prefetch_templates
from service.adapters.cds_request import parse_hook_request
from service.adapters.codesets import load_codesets
from service.adapters.fhir_assemble import PatientResources, assemble
from service.adapters.fhir_decode import (
    Decoded,
    FhirInputError,
    decode_ndjson_block,
    decode_resources,
    iter_ndjson_resources,
    read_document,
    read_patient_bundle,
)
from service.adapters.prefetch import gather_patient_data, is_usable
from tests.service.adapters.fhir_json import (
    ICD10CM,
    RXNORM,
    Json,
    concept,
    condition,
    med_request,
    obs,
    patient,
)


def _dump(x: object) -> object:
    return msgspec.to_builtins(x, builtin_types=(), str_keys=True, enc_hook=repr)


def _resources(out: Decoded) -> object:
    return _dump([out.resources, out.rejected, out.refs.aliases])


def _same(a: PatientResources, b: PatientResources) -> bool:
    return _dump(a) == _dump(b)


def _bundle(*resources: Json, urls: list[str] | None = None, kind: str = "searchset") -> Json:
    entries: list[Json] = []
    for i, r in enumerate(resources):
        entry: Json = {"resource": r}
        if urls is not None:
            entry["fullUrl"] = urls[i]
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _bad_obs(oid: str) -> Json:
    return obs("2000-8", 2.5, "mmol/L", oid=oid) | {"status": 3}  # a number where a string goes


def _nested(depth: int) -> Json:
    doc = _bundle(obs("2000-8", 2.5, "mmol/L"))
    for _ in range(depth):
        doc = _bundle(doc)
    return doc


DOCUMENTS: dict[str, Json] = {
    "a searchset": _bundle(obs("2000-8", 2.5, "mmol/L"), obs("1751-7", 3.9, "g/dL", oid="o2")),
    "a single resource": obs("2000-8", 2.5, "mmol/L"),
    "fullUrls and an id-less entry": _bundle(
        obs("2000-8", 2.5, "mmol/L"),
        {k: v for k, v in obs("1751-7", 3.9, "g/dL").items() if k != "id"},
        urls=["urn:uuid:1", "urn:uuid:2"],
    ),
    "a nested Bundle": _bundle(_bundle(obs("2000-8", 2.5, "mmol/L"))),
    "types never read": _bundle({"resourceType": "Encounter", "id": "e1"}, obs("2000-8", 2.5, "mmol/L")),
    "a Patient": patient(),
    "a Patient with a bad birthDate": patient(birth="1960-13-45"),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_a_document_read_in_one_call_gives_what_the_per_resource_path_gives(name: str) -> None:
    raw = orjson.dumps(DOCUMENTS[name])
    fast, slow = Decoded(), Decoded()
    fast.add_document(raw, "prefetch.x")
    slow.add(raw, "prefetch.x", None)
    assert _resources(fast) == _resources(slow)
    assert read_document(raw, "prefetch.x") is not None  # the one-call path was taken


@pytest.mark.parametrize(
    "doc",
    [
        _bundle(obs("2000-8", 2.5, "mmol/L"), _bad_obs("bad")),
        _bundle({"resourceType": "MadeUpType", "id": "x"}, obs("2000-8", 2.5, "mmol/L")),
        _bundle({"id": "no-type"}),
    ],
)
def test_a_document_that_does_not_decode_in_one_call_is_read_resource_by_resource(doc: Json) -> None:
    raw = orjson.dumps(doc)
    assert read_document(raw, "prefetch.x") is None
    fast, slow = Decoded(), Decoded()
    fast.add_document(raw, "prefetch.x")
    slow.add(raw, "prefetch.x", None)
    assert _resources(fast) == _resources(slow)


def test_only_the_entry_that_fails_to_decode_is_rejected() -> None:
    out = Decoded()
    out.add_document(orjson.dumps(_bundle(obs("2000-8", 2.5, "mmol/L"), _bad_obs("bad"))), "prefetch.x")
    assert [r.ref for r in out.resources] == ["Observation/o1"]
    assert [(i.reference, i.reason.split(":")[0]) for i in out.rejected] == [
        ("Observation/bad", "invalid-resource")
    ]


def test_bundles_nested_too_deep_fail_as_on_the_per_resource_path() -> None:
    raw = orjson.dumps(_nested(5))
    with pytest.raises(FhirInputError) as slow:
        Decoded().add(raw, "prefetch.x", None)
    with pytest.raises(FhirInputError) as fast:
        Decoded().add_document(raw, "prefetch.x")
    assert str(fast.value) == str(slow.value)


def test_documents_read_one_after_another_add_up_in_order() -> None:
    docs = [
        orjson.dumps(_bundle(obs("2000-8", 2.5, "mmol/L"), urls=["urn:uuid:1"])),
        orjson.dumps(_bundle(_bad_obs("bad"), obs("1751-7", 3.9, "g/dL", oid="o2"))),
        orjson.dumps(_bundle(obs("17861-6", 9.9, "mg/dL", oid="o3"), urls=["urn:uuid:1"])),
    ]
    fast, slow = Decoded(), Decoded()
    for n, raw in enumerate(docs):
        fast.add_document(raw, f"page {n}")
        slow.add(raw, f"page {n}", None)
    assert _resources(fast) == _resources(slow)
    assert fast.refs.aliases == {"urn:uuid:1": "Observation/o3"}


def test_a_strict_reader_never_takes_the_one_call_path() -> None:
    no_code = {k: v for k, v in obs("2000-8", 2.5, "mmol/L").items() if k != "code"}  # required in R4B
    raw = orjson.dumps(_bundle(no_code))
    assert read_document(raw, "prefetch.x") is not None
    strict = Decoded(strict=True)
    strict.add_document(raw, "prefetch.x")
    assert strict.resources == []
    assert len(strict.rejected) == 1


# ---- prefetch ----------------------------------------------------------------------------------
def _hook_body(prefetch: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "hook": "patient-view",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p1"},
            "prefetch": prefetch,
        }
    )


def _per_resource(body: bytes) -> PatientResources:
    """What gather_patient_data read before the one-call path: `is_usable`, then `Decoded.add`."""
    request = parse_hook_request(body, Hook.PATIENT_VIEW)
    out = Decoded()
    for key, value in request.prefetch.items():
        if is_usable(value):
            out.add(value, f"prefetch.{key}", None)
    return assemble(out.by_type, out.rejected, out.refs)


PREFETCH: dict[str, Json | None] = {
    "observations": _bundle(obs("2000-8", 2.5, "mmol/L"), _bad_obs("bad")),
    "conditions": _bundle(condition(ICD10CM, "E21.0")),
    "medications": _bundle(med_request(concept(RXNORM, "46041", "alendronate"))),
    "medicationStatements": {"resourceType": "OperationOutcome", "issue": []},
    "medicationAdministrations": None,
    "procedures": {"resourceType": "Bundle", "type": "searchset", "id": 7},  # not a resource we read
    "diagnosticReports": _bundle(),
}


async def test_prefetch_values_read_in_one_call_give_what_the_per_resource_path_gives() -> None:
    templates = {k: v for k, v in prefetch_templates(load_codesets()).items() if k in ("patient", *PREFETCH)}
    body = _hook_body({"patient": patient(), **PREFETCH})
    request = parse_hook_request(body, Hook.PATIENT_VIEW)
    # Keys whose value is not data are fetched: without a fhirServer, that is a 412.
    unusable = {"medicationStatements", "medicationAdministrations", "procedures"}
    with pytest.raises(
        Exception, match="prefetch medicationStatements, medicationAdministrations, procedures"
    ):
        await gather_patient_data(request, templates, http=None, deadline=1.0)  # type: ignore[arg-type]
    usable = {k: v for k, v in templates.items() if k not in unusable}
    data = await gather_patient_data(request, usable, http=None, deadline=1.0)  # type: ignore[arg-type]
    assert _same(data.resources, _per_resource(body))
    assert [o.ref for o in data.resources.observations] == ["Observation/o1"]
    assert "Observation/bad" in [i.reference for i in data.resources.rejected]


# ---- whole inputs: NDJSON read in one call ----------------------------------------------------
INPUTS: dict[str, bytes] = {
    "NDJSON": b"\n".join(orjson.dumps(x) for x in (patient(), obs("2000-8", 2.5, "mmol/L"))) + b"\n",
    "NDJSON with CRLF and blank lines": b"\r\n".join(
        orjson.dumps(x) for x in (patient(), obs("2000-8", 2.5, "mmol/L"))
    )
    + b"\r\n\r\n",
    "a one-line Bundle and a newline": orjson.dumps(_bundle(patient(), obs("2000-8", 2.5, "mmol/L"))) + b"\n",
    "a Bundle whose first line closes an object": (
        b'{"resourceType": "Bundle", "meta": {}\n, "type": "collection", "entry": ['
        + orjson.dumps({"resource": patient()})
        + b"]}"
    ),
    "a bad line after a good one": orjson.dumps(patient()) + b"\n" + orjson.dumps(_bad_obs("bad")),
}


@pytest.mark.parametrize("name", list(INPUTS))
def test_whole_inputs_read_the_same_on_the_fast_and_the_per_resource_paths(name: str) -> None:
    data = INPUTS[name]
    fast = read_patient_bundle(data)
    slow = Decoded()
    if b"\n" in data.strip() and not data.startswith(b'{"resourceType": "Bundle"'):
        from service.adapters.fhir_decode import _ndjson  # noqa: PLC0415 - the reference path

        _ndjson(slow, data)
    else:
        slow.add(data, "(input)", None)
    assert _same(fast, assemble(slow.by_type, slow.rejected, slow.refs))


def test_a_lone_line_of_ndjson_reads_as_the_resource_it_holds() -> None:
    data = orjson.dumps(obs("2000-8", 2.5, "mmol/L")) + b"\n"
    assert [r.ref for r in decode_resources(data).resources] == ["Observation/o1"]


# ---- NDJSON lines: batched for lists, line by line for other iterables ------------------------
def _lines(*, broken: bool) -> list[bytes]:
    """Lines that each decode (a batch reads them in one call), and with `broken` lines that do not
    (the batch holding them is read line by line)."""
    out = [orjson.dumps(patient())]
    out += [orjson.dumps(obs("2000-8", 2.0 + i / 100, "mmol/L", oid=f"o{i}")) for i in range(300)]
    out += [
        b"",
        b"   ",
        orjson.dumps(_bundle(obs("1751-7", 3.9, "g/dL", oid="in-bundle"))),
        orjson.dumps({k: v for k, v in obs("1751-7", 3.9, "g/dL").items() if k != "id"}),
        orjson.dumps({"resourceType": "Encounter", "id": "e1"}),
        orjson.dumps(patient("p2", birth="1960-13-45")),
    ]
    if broken:
        out += [
            b"{oops",
            orjson.dumps(_bad_obs("bad")),
            orjson.dumps(obs("2000-8", 2.5, "mmol/L", oid="a")) + orjson.dumps(obs("2000-8", 2.5, "mmol/L")),
            orjson.dumps(concept(ICD10CM, "E21.0")),
        ]
    return out


def _items(items: Sequence[object]) -> object:
    return _dump([(type(x).__name__, x) for x in items])


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.parametrize("cut", [None, 5, 305])
def test_a_list_of_lines_gives_what_reading_line_by_line_gives(cut: int | None, broken: bool) -> None:
    lines = _lines(broken=broken)[:cut]
    batched = list(iter_ndjson_resources(lines))
    one_by_one = list(iter_ndjson_resources(iter(lines)))
    assert _items(batched) == _items(one_by_one)


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.parametrize("cut", [None, 5])
def test_a_block_of_lines_gives_what_reading_line_by_line_gives(cut: int | None, broken: bool) -> None:
    """A sweep hands a patient's lines over as one block of bytes (no blank lines, each line ending
    in a newline); a bad line is still rejected alone, with its line number."""
    lines = [line for line in _lines(broken=broken)[:cut] if line.strip()]
    block = b"".join(line + b"\n" for line in lines)
    assert _items(decode_ndjson_block(block)) == _items(list(iter_ndjson_resources(iter(lines))))
    if cut is not None:  # the strict path validates each line with the R4B models: a few lines
        strict = list(iter_ndjson_resources(iter(lines), strict=True))
        assert _items(decode_ndjson_block(block, strict=True)) == _items(strict)


def test_lines_keep_their_line_numbers_in_rejections() -> None:
    lines = [orjson.dumps(patient()), b"", b"{oops"]
    rejected = [x for x in iter_ndjson_resources(lines) if not isinstance(x, fm.Resource)]
    assert [getattr(x, "reference", None) for x in rejected] == ["line 3"]

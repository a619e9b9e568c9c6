"""The discovery document declares the three services and a prefetch any CDS Hooks 2.0 client can run.

The `observations` template must ask for every lab and DXA code the rules read (including a site's
local codes), and every template must stay inside the spec's recommended query subset: date
filtering is ours, never the EHR's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from rules import Hook
from service.adapters.cds_discovery import SERVICE_IDS, discovery_document
from service.adapters.codesets import load_codesets
from tests.builders import DXA_CODES, LABS
from tests.service.cds.card_shape import (
    assert_valid_discovery,
    discovery_errors,
    prefetch_template_errors,
)

SPEC = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "cds-hooks" / "spec-2.0.1"
LOINC = "http://loinc.org"
P = "{{context.patientId}}"
Body = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Body:
    return discovery_document()


def codes_of(template: str) -> list[str]:
    """The `code` values of a search template, split on unescaped commas."""
    query = template.partition("?")[2]
    values = [v for k, v in parse_qsl(query) if k == "code"]
    assert len(values) == 1
    return [part.replace("\\,", ",") for part in _split(values[0])]


def _split(value: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in value:
        if char == "," and not escaped:
            parts.append(current)
            current = ""
            continue
        current += char
        escaped = char == "\\" and not escaped
    return [*parts, current]


def test_discovery_lists_the_three_services_with_their_fixed_ids_and_hooks(document: Body) -> None:
    services = {s["id"]: s["hook"] for s in document["services"]}
    assert services == {
        "osteoalert-patient-view": "patient-view",
        "osteoalert-order-select": "order-select",
        "osteoalert-order-sign": "order-sign",
    }
    assert {k: v.value for k, v in SERVICE_IDS.items()} == services
    assert all(s["title"] and s["description"] for s in document["services"])


def test_discovery_document_is_valid_and_its_templates_use_only_the_recommended_subset(
    document: Body,
) -> None:
    assert_valid_discovery(document)


@pytest.mark.parametrize("hook", list(SERVICE_IDS.values()))
def test_every_service_declares_the_prefetch_keys_ehrs_and_reviewers_rely_on(
    document: Body, hook: Hook
) -> None:
    (service,) = [s for s in document["services"] if s["hook"] == hook.value]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == f"Patient/{P}"
    assert prefetch["observations"].startswith(f"Observation?patient={P}&code=")
    assert prefetch["conditions"] == f"Condition?patient={P}"
    assert prefetch["medications"] == f"MedicationRequest?patient={P}"
    assert prefetch["medicationStatements"] == f"MedicationStatement?patient={P}"
    assert prefetch["medicationAdministrations"] == f"MedicationAdministration?patient={P}"
    assert prefetch["procedures"] == f"Procedure?patient={P}"
    assert f"{LOINC}|83311-1" in codes_of(prefetch["diagnosticReports"])


def test_observations_ask_for_every_lab_and_dxa_code_of_the_code_sets_and_nothing_else(
    document: Body,
) -> None:
    codesets = load_codesets()
    expected = {f"{LOINC}|{code}" for alias, code in [*codesets.labs, *codesets.dxa] if alias == "loinc"}
    for service in document["services"]:
        tokens = codes_of(service["prefetch"]["observations"])
        assert len(tokens) == len(set(tokens))
        assert set(tokens) == expected


def test_observations_cover_every_code_the_vignette_builders_use(document: Body) -> None:
    # An oracle independent of the code-set files: the builders' own LOINC tables.
    tokens = set(codes_of(document["services"][0]["prefetch"]["observations"]))
    used = {code for analyte, code, _ in LABS.values() if analyte is not None} | set(DXA_CODES.values())
    assert {f"{LOINC}|{code}" for code in used} <= tokens
    assert f"{LOINC}|62290-2" not in tokens  # 1,25(OH)2D is never read as 25-OH D


def test_a_sites_local_lab_code_joins_the_observation_template_with_its_system(tmp_path: Path) -> None:
    site = {
        "format": "osteoalert-codesets/1",
        "source": "test site",
        "version": "1",
        "systems": {"acme": ["https://lab.acme.example/codes"]},
        "labs": [{"system": "acme", "code": "CA,TOT", "set": "CA_TOTAL", "display": "Ca", "verified": False}],
    }
    (tmp_path / "local.json").write_text(json.dumps(site), encoding="utf-8")
    document = discovery_document(load_codesets(tmp_path))
    template = document["services"][0]["prefetch"]["observations"]
    assert "https://lab.acme.example/codes|CA\\,TOT" in template  # FHIR search escaping of ","
    assert "https://lab.acme.example/codes|CA,TOT" in codes_of(template)
    assert_valid_discovery(document)


def test_no_template_filters_by_date_or_sorts(document: Body) -> None:
    for service in document["services"]:
        for template in service["prefetch"].values():
            names = {k for k, _ in parse_qsl(template.partition("?")[2])}
            assert not names & {"date", "_sort", "_lastUpdated", "_count"}, template


# ---- the discovery checker ---------------------------------------------------------------------
@pytest.mark.fixtures
@pytest.mark.parametrize("name", ["discovery-response.json", "discovery-with-extension.json"])
def test_checker_accepts_the_spec_discovery_examples(name: str) -> None:
    if not SPEC.exists():
        pytest.skip(reason=f"LOUD SKIP: CDS Hooks spec fixtures not found at {SPEC}")
    assert_valid_discovery(json.loads((SPEC / name).read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("missing", "where"), [("hook", "hook"), ("description", "description"), ("id", "id")]
)
def test_checker_rejects_a_service_without_a_required_field(document: Body, missing: str, where: str) -> None:
    broken = json.loads(json.dumps(document))
    del broken["services"][1][missing]
    assert any(where in e for e in discovery_errors(broken))


@pytest.mark.parametrize(
    ("template", "ok"),
    [
        (f"Patient/{P}", True),
        (f"Observation?patient={P}&code={LOINC}|2731-8,{LOINC}|14866-8", True),
        (f"Observation?patient={P}&code:in=http://example.org/ValueSet/pth", True),
        (f"Observation?patient={P}&date=ge2020-01-01&_count=10&_sort=-date", True),
        ("{{context.userId}}", True),
        (f"Observation?patient={P}&code:text=calcium", False),
        (f"Observation?patient={P}&date=sa2020-01-01", False),
        (f"Observation?patient={P}&_include=Observation:performer", False),
        (f"Observation?patient={P}&_revinclude=Provenance:target", False),
        (f"Observation?subject:Patient.name=Smith&patient={P}", False),
        (f"Foo?patient={P}", False),
        (f"Patient/{P}?_elements=name", False),
    ],
)
def test_prefetch_templates_are_checked_against_the_spec_query_subset(template: str, ok: bool) -> None:
    assert (prefetch_template_errors(template) == []) is ok

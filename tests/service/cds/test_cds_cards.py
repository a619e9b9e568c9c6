"""Findings become CDS Hooks 2.0 cards that pass the spec's MUSTs (tests/service/cds/card_shape.py).

Every card we produce, for every vignette of RULES.md section 9 and for targeted findings, passes
the checker and our own contract (uuids stable per patient/rule/index data, topic = rule id,
ServiceRequests valid R4B drafts, a delete of the draft order at fault).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from rules import EvaluationResult, Finding, Hook, evaluate
from rules.findings import Indicator, Reference, Suggestion
from rules.orderables import ALBUMIN, CALCIUM, DXA, PTH, cancel_draft, referral
from rules.scope import ALL_RULE_IDS
from service.adapters.cds_cards import (
    RULE_CODE_SYSTEM,
    RULE_TITLES,
    card_uuid,
    finding_to_card,
    findings_to_cards,
    result_to_cards,
)
from service.adapters.fhir_resources_out import LOCAL_ORDERABLE_SYSTEM
from tests.builders import a_patient
from tests.service.cds.card_shape import (
    assert_osteoalert_cards,
    assert_valid_cds_response,
)
from tests.vignettes import VIGNETTES, Vignette

Body = dict[str, Any]


def a_finding(**changes: Any) -> Finding:
    base: dict[str, Any] = {
        "rule_id": "phpt-suspected",
        "indicator": Indicator.WARNING,
        "summary": "Calcium 11.2 mg/dL with non-suppressed PTH 98 pg/mL: possible PHPT.",
        "detail": "Why.\n\n| Data | Reported |\n|---|---|\n| Calcium | 11.2 mg/dL |",
        "suggestions": (PTH, referral("Refer to endocrinology")),
        "references": (Reference("Guideline A (Author, Journal 2022;1:1-2)", "https://doi.org/10.1/a"),),
        "index_key": "Observation/ca1|Observation/pth1",
    }
    base.update(changes)
    return Finding(**base)


# ---- every card we produce passes ---------------------------------------------------------------
def cards_for(v: Vignette) -> tuple[EvaluationResult, Body]:
    snapshot = v.snapshot()
    result = evaluate(snapshot)
    return result, result_to_cards(result, draft_orders=snapshot.draft_orders)


@pytest.mark.parametrize("v", VIGNETTES, ids=[v.id for v in VIGNETTES])
def test_every_vignette_gives_valid_cards_one_per_rule_with_the_rule_id_as_topic(v: Vignette) -> None:
    result, body = cards_for(v)
    assert_osteoalert_cards(body, RULE_CODE_SYSTEM)
    topics = [c["source"]["topic"]["code"] for c in body["cards"]]
    assert sorted(topics) == sorted(result.rule_ids)
    assert {(c["source"]["topic"]["code"], c["indicator"]) for c in body["cards"]} == {
        (f.rule_id, f.indicator.value) for f in result.findings
    }
    ranks = [Indicator(c["indicator"]).rank for c in body["cards"]]
    assert ranks == sorted(ranks, reverse=True)  # critical → warning → info


def create_actions(body: Body) -> list[Body]:
    return [
        a
        for c in body["cards"]
        for s in c.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "create"
    ]


@pytest.mark.parametrize("v", VIGNETTES, ids=[v.id for v in VIGNETTES])
def test_created_service_requests_validate_as_r4b_drafts_for_the_patient(v: Vignette) -> None:
    snapshot = v.snapshot()
    _, body = cards_for(v)
    intent = "order" if v.hook.is_order_hook else "proposal"
    for action in create_actions(body):
        resource = ServiceRequest.model_validate(action["resource"])
        assert resource.status == "draft"
        assert resource.intent == intent
        assert resource.subject.reference == snapshot.patient


def by_id(vid: str) -> Vignette:
    return next(v for v in VIGNETTES if v.id == vid)


def test_v23_denosumab_card_offers_to_delete_the_draft_order_by_relative_reference() -> None:
    snapshot = by_id("V23").snapshot()
    _, body = cards_for(by_id("V23"))
    (card,) = body["cards"]
    deletes = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert [a["resourceId"] for a in deletes] == [d.reference for d in snapshot.draft_orders]
    assert "denosumab" in deletes[0]["description"]


def test_v01_card_codes_each_orderable_with_its_loinc_code_and_keeps_calcium_with_albumin() -> None:
    _, body = cards_for(by_id("V01"))
    (card,) = body["cards"]
    codes = [
        [c["code"] for a in s["actions"] for c in a["resource"]["code"]["coding"]]
        for s in card["suggestions"]
    ]
    assert ["17861-6", "1751-7"] in codes  # one suggestion, two ServiceRequests
    assert ["2731-8"] in codes
    assert card["selectionBehavior"] == "any"
    assert card["detail"] == next(f for f in evaluate(by_id("V01").snapshot()).findings).detail


def test_v03_card_orders_dxa_as_imaging() -> None:
    _, body = cards_for(by_id("V03"))
    dxa = [
        a["resource"] for a in create_actions(body) if a["resource"]["code"]["coding"][0]["code"] == "83311-1"
    ]
    assert dxa
    assert dxa[0]["category"][0]["coding"][0]["code"] == "363679005"


# ---- targeted card behaviour --------------------------------------------------------------------
UUIDS: list[tuple[tuple[str, str, str], tuple[str, str, str], bool]] = [
    (("p1", "phpt-suspected", "Observation/a"), ("p1", "phpt-suspected", "Observation/a"), True),
    (("p1", "phpt-suspected", "Observation/a"), ("Patient/p1", "phpt-suspected", "Observation/a"), True),
    (("p1", "phpt-suspected", "Observation/a"), ("p1", "phpt-suspected", "Observation/b"), False),
    (("p1", "phpt-suspected", "Observation/a"), ("p1", "secondary-hpt", "Observation/a"), False),
    (("p1", "phpt-suspected", "Observation/a"), ("p2", "phpt-suspected", "Observation/a"), False),
]


@pytest.mark.parametrize(("first", "second", "same"), UUIDS)
def test_card_uuid_is_stable_per_patient_rule_and_index_data(
    first: tuple[str, str, str], second: tuple[str, str, str], same: bool
) -> None:
    assert (card_uuid(*first) == card_uuid(*second)) is same


def test_the_same_finding_gives_the_same_card_and_suggestion_uuids_on_every_call() -> None:
    first = finding_to_card(a_finding(), patient="p1")
    again = finding_to_card(a_finding(), patient="Patient/p1")
    other = finding_to_card(a_finding(index_key="Observation/ca2|Observation/pth1"), patient="p1")
    assert first == again
    assert first["uuid"] != other["uuid"]
    assert {s["uuid"] for s in first["suggestions"]}.isdisjoint({s["uuid"] for s in other["suggestions"]})


def test_a_summary_that_reaches_140_characters_is_cut_below_the_limit() -> None:
    card = finding_to_card(a_finding(summary="word " * 40), patient="p1")
    assert len(card["summary"]) < 140
    assert_valid_cds_response({"cards": [card]})


def test_a_finding_without_suggestions_has_neither_suggestions_nor_selection_behavior() -> None:
    card = finding_to_card(a_finding(suggestions=()), patient="p1")
    assert "suggestions" not in card
    assert "selectionBehavior" not in card
    assert_valid_cds_response({"cards": [card]})


def test_links_are_absolute_with_short_labels_one_per_guideline_url() -> None:
    long = Reference("A very long guideline title " * 5 + "(Author et al., Journal)", "https://g.org/1")
    refs = (long, Reference("Short (cite)", "https://g.org/2"), Reference("Short again", "https://g.org/2"))
    card = finding_to_card(a_finding(references=refs), patient="p1")
    assert [link["url"] for link in card["links"]] == ["https://g.org/1", "https://g.org/2"]
    assert all(link["type"] == "absolute" and len(link["label"]) <= 80 for link in card["links"])
    assert card["links"][1]["label"] == "Short again"  # the later reference for a url wins its label


def test_override_reasons_carry_a_display_and_include_already_addressed() -> None:
    card = finding_to_card(a_finding(), patient="p1")
    reasons = {r["code"]: r["display"] for r in card["overrideReasons"]}
    assert reasons["already-addressed"] == "Already addressed"
    assert {"not-applicable", "patient-declined", "will-recheck"} <= set(reasons)


@pytest.mark.parametrize(
    ("suggestions", "labels", "sizes"),
    [
        ((CALCIUM, PTH, ALBUMIN), ["Order serum calcium with albumin", "Order intact PTH"], [2, 1]),
        ((ALBUMIN, PTH), ["Order albumin", "Order intact PTH"], [1, 1]),
        ((PTH, PTH, DXA), ["Order intact PTH", "Order DXA (lumbar spine and hip)"], [1, 1]),
    ],
)
def test_suggestions_group_albumin_with_its_calcium_and_drop_repeats(
    suggestions: tuple[Suggestion, ...], labels: list[str], sizes: list[int]
) -> None:
    card = finding_to_card(a_finding(suggestions=suggestions), patient="p1")
    assert [s["label"] for s in card["suggestions"]] == labels
    assert [len(s["actions"]) for s in card["suggestions"]] == sizes


def test_suggestion_uuids_are_unique_within_a_card_even_for_one_code_under_two_labels() -> None:
    again = Suggestion("Repeat intact PTH in 3 months", code="2731-8", system="http://loinc.org")
    card = finding_to_card(a_finding(suggestions=(PTH, again)), patient="p1")
    uuids = [s["uuid"] for s in card["suggestions"]]
    assert len(uuids) == len(set(uuids)) == 2


def test_a_referral_is_a_service_request_with_a_local_code() -> None:
    card = finding_to_card(a_finding(suggestions=(referral("Refer to endocrinology"),)), patient="p1")
    (action,) = card["suggestions"][0]["actions"]
    coding = action["resource"]["code"]["coding"][0]
    assert coding["system"] == LOCAL_ORDERABLE_SYSTEM
    assert coding["code"] == "refer-to-endocrinology"
    assert action["resource"]["category"][0]["coding"][0]["code"] == "3457005"


def test_a_cancel_suggestion_without_a_relative_reference_is_dropped() -> None:
    bad = cancel_draft("urn:uuid:1234", "Cancel it")
    card = finding_to_card(a_finding(suggestions=(bad,)), patient="p1")
    assert "suggestions" not in card


def test_order_hooks_create_orders_and_patient_view_creates_proposals() -> None:
    order = finding_to_card(a_finding(), patient="p1", hook=Hook.ORDER_SIGN)
    proposal = finding_to_card(a_finding(), patient="p1")
    assert order["suggestions"][0]["actions"][0]["resource"]["intent"] == "order"
    assert proposal["suggestions"][0]["actions"][0]["resource"]["intent"] == "proposal"


def test_an_invalid_patient_id_is_refused() -> None:
    with pytest.raises(ValueError, match="FHIR id"):
        finding_to_card(a_finding(), patient="Patient/not valid!")


def test_one_card_per_rule_first_finding_wins_and_critical_comes_first() -> None:
    info = a_finding(rule_id="vitd-deficiency", indicator=Indicator.INFO)
    stored = a_finding(summary="Stored finding of an earlier evaluation.")
    fresh = a_finding()
    critical = a_finding(rule_id="hypercalcemia-severe", indicator=Indicator.CRITICAL)
    body = findings_to_cards([info, fresh, critical, stored], patient="p1")
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == [
        "hypercalcemia-severe",
        "phpt-suspected",
        "vitd-deficiency",
    ]
    assert body["cards"][1]["summary"] == fresh.summary


def test_result_to_cards_merges_stored_findings_behind_fresh_ones() -> None:
    snapshot = a_patient(62, "female").lab("CA", 11.2, "mg/dL", days_ago=10).snapshot()
    result = evaluate(snapshot)
    stored = a_finding(rule_id="vitd-deficiency", indicator=Indicator.INFO)
    body = result_to_cards(result, stored=[stored])
    assert [c["source"]["topic"]["code"] for c in body["cards"]][-1] == "vitd-deficiency"
    assert_osteoalert_cards(body, RULE_CODE_SYSTEM)


def test_every_rule_has_a_human_title_for_its_topic() -> None:
    assert set(RULE_TITLES) == set(ALL_RULE_IDS)


def test_an_empty_result_gives_an_empty_cards_array() -> None:
    body = result_to_cards(evaluate(a_patient(40, "male").snapshot()))
    assert body == {"cards": []}
    assert_valid_cds_response(copy.deepcopy(body))

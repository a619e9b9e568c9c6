"""The card checker (tests/service/cds/card_shape.py) is itself right.

It must accept the CDS Hooks 2.0.1 specification's own examples and reject hand-broken variants of a
valid response, one MUST at a time; and accept what the specification allows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.cds.card_shape import assert_valid_cds_response, cds_response_errors

SPEC = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "cds-hooks" / "spec-2.0.1"
Body = dict[str, Any]


def spec(name: str) -> Body:
    if not SPEC.exists():
        pytest.skip(reason=f"LOUD SKIP: CDS Hooks spec fixtures not found at {SPEC}")
    data: Body = json.loads((SPEC / name).read_text(encoding="utf-8"))
    return data


# ---- the checker accepts the specification's examples ----------------------------------------
@pytest.mark.fixtures
@pytest.mark.parametrize(
    "name", ["response-cards-example1.json", "response-empty-cards.json", "response-system-actions.json"]
)
def test_checker_accepts_the_spec_example_responses(name: str) -> None:
    # The spec abbreviates embedded resources ("...": "<snipped>"): their type is checked, not their content.
    assert_valid_cds_response(spec(name), validate_resources=False)


@pytest.mark.fixtures
def test_checker_accepts_the_autolaunchable_example_once_its_missing_required_indicator_is_supplied() -> None:
    # Spec erratum: this 2.0.1 example omits `indicator`, which the Card table marks REQUIRED.
    body = spec("response-cards-example2.json")
    assert [e.split(":")[0] for e in cds_response_errors(body)] == ["$.cards[0].indicator"]
    body["cards"][0]["indicator"] = "info"
    assert_valid_cds_response(body)


@pytest.mark.fixtures
@pytest.mark.parametrize("name", ["action-create.json", "action-update.json", "action-delete.json"])
def test_checker_accepts_the_spec_example_actions_inside_a_card(name: str) -> None:
    card = {
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x"},
        "suggestions": [{"label": "do it", "actions": [spec(name)]}],
        "selectionBehavior": "at-most-one",
    }
    assert_valid_cds_response({"cards": [card]}, validate_resources=False)


@pytest.mark.fixtures
def test_checker_accepts_the_spec_example_source_and_override_reasons() -> None:
    card = {"summary": "s", "indicator": "warning"}
    card |= spec("card-source.json") | spec("card-override-reasons.json")
    assert_valid_cds_response({"cards": [card]})


# ---- the checker rejects broken responses --------------------------------------------------------
def valid_body() -> Body:
    create = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2731-8"}]},
        "subject": {"reference": "Patient/p1"},
    }
    order = {"type": "create", "description": "d", "resource": create}
    cancel = {"type": "delete", "description": "d", "resourceId": "MedicationRequest/m1"}
    card = {
        "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "summary": "A summary.",
        "indicator": "warning",
        "detail": "Some *markdown*.",
        "source": {"label": "L", "url": "https://e.org", "topic": {"system": "https://s", "code": "c"}},
        "suggestions": [
            {"label": "Order", "uuid": "u1", "actions": [order]},
            {"label": "Cancel", "uuid": "u2", "actions": [cancel]},
        ],
        "selectionBehavior": "any",
        "overrideReasons": [{"system": "https://o", "code": "x", "display": "X"}],
        "links": [{"label": "Guide", "url": "https://doi.org/10.1/a", "type": "absolute"}],
    }
    return {"cards": [card]}


Mutation = Callable[[Body], object]


def _card(b: Body) -> Body:
    card: Body = b["cards"][0]
    return card


def _sug(b: Body, i: int = 0) -> Body:
    suggestion: Body = _card(b)["suggestions"][i]
    return suggestion


def _action(b: Body, i: int = 0) -> Body:
    action: Body = _sug(b, i)["actions"][0]
    return action


def _res(b: Body) -> Body:
    resource: Body = _action(b)["resource"]
    return resource


def _link(b: Body) -> Body:
    link: Body = _card(b)["links"][0]
    return link


def _recommend_all(b: Body) -> None:
    _card(b)["selectionBehavior"] = "at-most-one"
    for s in _card(b)["suggestions"]:
        s["isRecommended"] = True


def _recommend_one(b: Body) -> None:
    _card(b)["selectionBehavior"] = "at-most-one"
    _sug(b)["isRecommended"] = True


def _no_suggestions(b: Body) -> None:
    del _card(b)["suggestions"], _card(b)["selectionBehavior"]


BROKEN: list[tuple[str, Mutation, str]] = [
    ("cards missing", lambda b: b.pop("cards"), "$.cards"),
    ("cards not an array", lambda b: b.update(cards={}), "$.cards"),
    ("suggestions without selectionBehavior", lambda b: _card(b).pop("selectionBehavior"), "selection"),
    ("unknown selectionBehavior", lambda b: _card(b).update(selectionBehavior="all"), "selection"),
    ("summary of 140 characters", lambda b: _card(b).update(summary="x" * 140), "summary"),
    ("summary missing", lambda b: _card(b).pop("summary"), "summary"),
    ("summary not a string", lambda b: _card(b).update(summary=["x"]), "summary"),
    ("bad indicator", lambda b: _card(b).update(indicator="urgent"), "indicator"),
    ("indicator missing", lambda b: _card(b).pop("indicator"), "indicator"),
    ("source missing", lambda b: _card(b).pop("source"), "source"),
    ("source without label", lambda b: _card(b)["source"].pop("label"), "source.label"),
    ("source url relative", lambda b: _card(b)["source"].update(url="/about"), "source.url"),
    ("topic without code", lambda b: _card(b)["source"]["topic"].pop("code"), "topic.code"),
    ("topic without system", lambda b: _card(b)["source"]["topic"].pop("system"), "topic.system"),
    ("card uuid not a string", lambda b: _card(b).update(uuid=123), "uuid"),
    ("detail not a string", lambda b: _card(b).update(detail={"md": "x"}), "detail"),
    ("delete without resourceId", lambda b: _action(b, 1).pop("resourceId"), "resourceId"),
    ("delete with a bare id", lambda b: _action(b, 1).update(resourceId="m1"), "resourceId"),
    ("delete of an unknown type", lambda b: _action(b, 1).update(resourceId="Foo/m1"), "resourceId"),
    ("create without resource", lambda b: _action(b).pop("resource"), "resource"),
    ("create with an invalid FHIR resource", lambda b: _res(b).pop("status"), "resource"),
    ("create with a wrong FHIR datatype", lambda b: _res(b).update(subject="Patient/p1"), "resource"),
    ("create of an unknown type", lambda b: _res(b).update(resourceType="Foo"), "resourceType"),
    ("create of a datatype", lambda b: _res(b).update(resourceType="Coding"), "resourceType"),
    ("action type patch", lambda b: _action(b).update(type="patch"), "type"),
    ("action without description", lambda b: _action(b).pop("description"), "description"),
    ("suggestion without label", lambda b: _sug(b).pop("label"), "label"),
    ("suggestion uuid not a string", lambda b: _sug(b).update(uuid=1), "uuid"),
    ("isRecommended not a boolean", lambda b: _sug(b).update(isRecommended="yes"), "isRecommended"),
    ("two recommended under at-most-one", _recommend_all, "at-most-one"),
    ("override reason without display", lambda b: _card(b)["overrideReasons"][0].pop("display"), "display"),
    ("override reason without system", lambda b: _card(b)["overrideReasons"][0].pop("system"), "system"),
    ("link type relative", lambda b: _link(b).update(type="relative"), "type"),
    ("absolute link with a relative url", lambda b: _link(b).update(url="/guide"), "url"),
    ("appContext on an absolute link", lambda b: _link(b).update(appContext="x"), "appContext"),
    ("link without label", lambda b: _link(b).pop("label"), "label"),
    ("null attribute", lambda b: _card(b).update(detail=None), "null"),
    ("empty string attribute", lambda b: _card(b).update(detail=""), "empty"),
    ("empty suggestions array", lambda b: _card(b).update(suggestions=[]), "empty"),
    ("systemActions not an array", lambda b: b.update(systemActions={"type": "create"}), "systemActions"),
]


@pytest.mark.parametrize(("case", "mutate", "where"), BROKEN, ids=[c for c, _, _ in BROKEN])
def test_checker_rejects_a_response_that_breaks_a_must(case: str, mutate: Mutation, where: str) -> None:
    body = valid_body()
    assert cds_response_errors(body) == []
    mutate(body)
    errors = cds_response_errors(body)
    assert errors, case
    assert any(where in e for e in errors), errors
    with pytest.raises(AssertionError):
        assert_valid_cds_response(body)


SYSTEM_DELETE = {"type": "delete", "resourceId": "Task/t1"}
SMART_LINK = {"label": "App", "url": "https://app.example/launch", "type": "smart", "appContext": "{}"}
ACCEPTED: list[tuple[str, Mutation]] = [
    ("summary of 139 characters", lambda b: _card(b).update(summary="x" * 139)),
    ("no uuid (OPTIONAL)", lambda b: _card(b).pop("uuid")),
    ("resourceId as an array", lambda b: _action(b, 1).update(resourceId=["MedicationRequest/m1"])),
    (
        "system action without description",
        lambda b: b.update(systemActions=[{"type": "delete", "resourceId": "Task/t"}]),
    ),
    ("unknown attributes (extensions)", lambda b: _card(b).update(extension={"org.example.x": 1})),
    ("no suggestions and no selectionBehavior", _no_suggestions),
    ("one recommended under at-most-one", _recommend_one),
    ("smart link with appContext", lambda b: _card(b)["links"].append(SMART_LINK)),
]


@pytest.mark.parametrize(("case", "mutate"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_checker_accepts_what_the_spec_allows(case: str, mutate: Mutation) -> None:
    body = valid_body()
    mutate(body)
    assert_valid_cds_response(body)

"""The engine: gates (adult, deceased), hook scope, suppression, and failures returned as data."""

from __future__ import annotations

import dataclasses

from rules import Parameters, evaluate
from rules.catalog import CATALOG
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.rule import Rule
from tests.builders import a_patient


def test_patients_under_18_get_no_rule() -> None:
    p = a_patient(17, "male").lab("CA", 10.9, "mg/dL", days_ago=5)
    assert evaluate(p.snapshot()).findings == ()
    assert evaluate(a_patient(18, "male").lab("CA", 10.9, "mg/dL", days_ago=5).snapshot()).findings


def test_unknown_birth_date_passes_the_adult_gate() -> None:
    p = a_patient(None, "male").lab("CA", 10.9, "mg/dL", days_ago=5)
    assert "hypercalcemia-pth-missing" in evaluate(p.snapshot()).rule_ids


def test_deceased_patients_get_no_rule() -> None:
    snap = a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5).snapshot()
    assert evaluate(dataclasses.replace(snap, deceased=True)).findings == ()
    died = dataclasses.replace(snap, deceased_at=snap.at)
    assert evaluate(died).findings == ()
    dies_later = dataclasses.replace(snap, deceased_at=snap.at.replace(year=snap.at.year + 1))
    assert evaluate(dies_later).findings


def test_hook_scope_limits_the_rules_that_run() -> None:
    p = a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5)
    assert "hypercalcemia-pth-missing" in evaluate(p.snapshot("background")).rule_ids
    assert evaluate(p.snapshot("batch")).findings == ()
    assert evaluate(p.snapshot("order-sign")).findings == ()


def _boom(facts: Facts, params: Parameters) -> Finding | None:
    raise ZeroDivisionError("bad data")


def _always(facts: Facts, params: Parameters) -> Finding | None:
    return Finding("hypercalcemia-severe", Indicator.CRITICAL, "s", "d")


def test_one_rules_exception_is_reported_and_the_others_still_run() -> None:
    rules = (
        Rule("hypercalcemia-pth-missing", "A1", _boom),
        Rule("hypercalcemia-severe", "A2", _always),
    )
    p = a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5)
    result = evaluate(p.snapshot(), Parameters(), rules)
    assert result.rule_ids == {"hypercalcemia-severe"}
    assert [f.rule_id for f in result.failures] == ["hypercalcemia-pth-missing"]
    assert "ZeroDivisionError" in result.failures[0].error


def _fires(rule_id: str, **data: str) -> Rule:
    def run(facts: Facts, params: Parameters) -> Finding | None:
        return Finding(rule_id, Indicator.INFO, "s", "d", data=dict(data))

    return Rule(rule_id, "x", run)


def test_specific_dxa_cards_suppress_the_generic_ones() -> None:
    snap = a_patient(70, "female").snapshot()
    rules = (
        _fires("gio-bone-assessment-due"),
        _fires("bone-risk-condition-dxa-due"),
        _fires("osteoporosis-screening-due"),
    )
    result = evaluate(snap, Parameters(), rules)
    assert result.rule_ids == {"gio-bone-assessment-due"}
    assert set(result.suppressed) == {"bone-risk-condition-dxa-due", "osteoporosis-screening-due"}


def test_condition_dxa_card_suppresses_screening() -> None:
    rules = (_fires("bone-risk-condition-dxa-due"), _fires("osteoporosis-screening-due"))
    result = evaluate(a_patient(70, "female").snapshot(), Parameters(), rules)
    assert result.rule_ids == {"bone-risk-condition-dxa-due"}


def test_only_the_phpt_variant_that_requests_dxa_suppresses_generic_dxa_cards() -> None:
    snap = a_patient(70, "female").snapshot()
    asks = (
        _fires("phpt-surgical-criteria", requests_dxa="true"),
        _fires("osteoporosis-screening-due"),
    )
    silent = (_fires("phpt-surgical-criteria"), _fires("osteoporosis-screening-due"))
    assert evaluate(snap, Parameters(), asks).rule_ids == {"phpt-surgical-criteria"}
    assert "osteoporosis-screening-due" in evaluate(snap, Parameters(), silent).rule_ids


def test_the_catalog_is_the_default_rule_set() -> None:
    assert len(CATALOG) == 24

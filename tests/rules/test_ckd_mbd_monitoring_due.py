"""D1 `ckd-mbd-monitoring-due`: CKD staging, per-stage intervals at their edges, missing items."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from rules import Analyte
from rules.ckd import ckd_mbd_monitoring_due as rule
from rules.facts import Facts
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import findings_by_rule, run_rule, vignette_patient

RULE = rule.RULE_ID
EGFR = "mL/min/{1.73_m2}"
# item → (lab short name, value, unit)
ITEM_LABS = {
    "calcium": ("CA", 9.2, "mg/dL"),
    "phosphate": ("PO4", 3.8, "mg/dL"),
    "PTH": ("PTH", 70.0, "pg/mL"),
    "25-OH D": ("VITD", 32.0, "ng/mL"),
}


run = partial(run_rule, rule.RULE)
engine = partial(findings_by_rule, rule=RULE)


def with_labs(code: str, ages: dict[str, int | None] | None = None) -> PatientBuilder:
    """A CKD patient (staged by Condition `code`) with every item measured 10 days ago, except
    those in `ages` (days ago, or None = never measured)."""
    b = a_patient(66, "male").condition(code)
    ages = ages or {}
    for item, (name, value, unit) in ITEM_LABS.items():
        days = ages.get(item, 10)
        if days is not None:
            b = b.lab(name, value, unit, days_ago=days)
    return b


# ---- per-stage intervals, pinned at the edge ---------------------------------------------------
INTERVALS = {
    "N18.31": ("G3a", {"calcium": 365, "phosphate": 365, "PTH": 730, "25-OH D": 730}),
    "N18.32": ("G3b", {"calcium": 365, "phosphate": 365, "PTH": 730, "25-OH D": 730}),
    "N18.4": ("G4", {"calcium": 180, "phosphate": 180, "PTH": 365, "25-OH D": 730}),
    "N18.5": ("G5", {"calcium": 90, "phosphate": 90, "PTH": 180, "25-OH D": 730}),
    "N18.6": ("G5D", {"calcium": 90, "phosphate": 90, "PTH": 180, "25-OH D": 730}),
}
EDGES = [
    pytest.param(code, item, days + extra, extra == 1, id=f"{stage}-{item}-{days + extra}d")
    for code, (stage, items) in INTERVALS.items()
    for item, days in items.items()
    for extra in (0, 1)
]


@pytest.mark.parametrize(("code", "item", "days_ago", "overdue"), EDGES)
def test_each_item_is_overdue_one_day_after_its_interval(
    code: str, item: str, days_ago: int, overdue: bool
) -> None:
    finding = run(with_labs(code, {item: days_ago}))
    assert (finding is not None) is overdue
    if finding is not None:
        stage = INTERVALS[code][0]
        assert finding.summary == f"CKD {stage}: CKD-MBD labs overdue ({item})."


def test_all_items_current_does_not_fire() -> None:
    assert run(with_labs("N18.4")) is None


@pytest.mark.parametrize("item", list(ITEM_LABS))
def test_an_item_never_measured_is_overdue(item: str) -> None:
    finding = run(with_labs("N18.32", {item: None}))
    assert finding is not None
    assert finding.data["missing"] == item
    assert f"{item}: never measured" in finding.detail


def test_dialysis_status_alone_is_g5d() -> None:
    finding = run(with_labs("Z99.2", {"calcium": 91}))
    assert finding is not None
    assert finding.data["stage"] == "G5D"


def test_site_intervals_are_parameters() -> None:
    params = DEFAULT_PARAMETERS.with_overrides({"ckd_mbd_g4": [90, 180, 365, 730]})
    assert run(with_labs("N18.4", {"calcium": 91}), params=params) is not None
    assert run(with_labs("N18.4", {"calcium": 91})) is None


# ---- what counts as a measurement --------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "unit"),
    [("ICA", 1.2, "mmol/L"), ("CA_LABCORR", 2.3, "mmol/L"), ("CA_MOL", 2.3, "mmol/L")],
)
def test_any_calcium_kind_counts(name: str, value: float, unit: str) -> None:
    b = with_labs("N18.4", {"calcium": None}).lab(name, value, unit, days_ago=30)
    assert run(b) is None


def test_vitamin_d3_counts_as_25_oh_d() -> None:
    b = with_labs("N18.4", {"25-OH D": None}).lab("VITD3", 30, "ng/mL", days_ago=30)
    assert run(b) is None


@pytest.mark.parametrize(("accept", "fires"), [(False, True), (True, False)])
def test_legacy_vitamin_d_counts_only_where_the_site_confirmed_it(accept: bool, fires: bool) -> None:
    snapshot = with_labs("N18.4").snapshot()
    legacy = tuple(
        lab._replace(analyte=Analyte.VITD_LEGACY) if lab.analyte is Analyte.VITD_TOTAL else lab
        for lab in snapshot.labs
    )
    params = DEFAULT_PARAMETERS.with_overrides({"accept_vitd_legacy": accept})
    assert (run(replace(snapshot, labs=legacy), params=params) is not None) is fires


# ---- CKD stage (3.6) ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("latest", "earlier", "stage"),
    [
        (60.0, 55.0, None),  # latest eGFR not < 60
        (59.0, 55.0, "G3a"),
        (45.0, 50.0, "G3a"),
        (44.0, 50.0, "G3b"),
        (30.0, 50.0, "G3b"),
        (29.0, 50.0, "G4"),
        (15.0, 20.0, "G4"),
        (14.0, 20.0, "G5"),
        (40.0, None, None),  # a single low eGFR is not CKD
    ],
)
def test_stage_from_two_low_egfrs_90_days_apart(
    latest: float, earlier: float | None, stage: str | None
) -> None:
    b = a_patient(66, "male").lab("EGFR", latest, EGFR, days_ago=10)
    if earlier is not None:
        b = b.lab("EGFR", earlier, EGFR, days_ago=100)
    finding = run(b)
    assert (finding.data["stage"] if finding else None) == stage


@pytest.mark.parametrize(("earlier_days_ago", "staged"), [(99, False), (100, True)])
def test_the_earlier_egfr_must_be_at_least_90_days_before_the_latest(
    earlier_days_ago: int, staged: bool
) -> None:
    b = (
        a_patient(66, "male")
        .lab("EGFR", 40, EGFR, days_ago=10)
        .lab("EGFR", 40, EGFR, days_ago=earlier_days_ago)
    )
    assert (run(b) is not None) is staged


def test_without_egfr_history_the_condition_stage_is_used() -> None:
    finding = run(a_patient(66, "male").condition("N18.4"))
    assert finding is not None
    assert finding.summary == "CKD G4: CKD-MBD labs overdue (calcium, phosphate, PTH, 25-OH D)."


def test_no_ckd_no_card() -> None:
    assert run(a_patient(66, "male")) is None


def test_a_ckd_condition_without_a_stage_does_not_count() -> None:
    snapshot = a_patient(66, "male").condition("N18.31").snapshot()
    unstaged = replace(snapshot.conditions[0], ckd_stage=None)
    assert run(replace(snapshot, conditions=(unstaged,))) is None


# ---- card content ------------------------------------------------------------------------------
def test_suggests_exactly_the_overdue_orders() -> None:
    finding = run(with_labs("N18.4", {"calcium": 200, "PTH": None}))
    assert finding is not None
    codes = {s.code for s in finding.suggestions}
    assert codes == {"17861-6", "1751-7", "2731-8"}  # calcium with albumin, intact PTH


@pytest.mark.parametrize(("code", "mentions_alp"), [("N18.32", False), ("N18.4", True)])
def test_alkaline_phosphatase_is_mentioned_from_g4(code: str, mentions_alp: bool) -> None:
    finding = run(with_labs(code, {"PTH": None}))
    assert finding is not None
    assert ("alkaline phosphatase" in finding.detail) is mentions_alp


def test_card_is_info_and_cites_kdigo() -> None:
    finding = run(with_labs("N18.4", {"calcium": 200}))
    assert finding is not None
    assert finding.indicator == "info"
    assert "kdigo.org" in finding.detail
    assert "last on" in finding.detail


@pytest.mark.parametrize(
    ("hook", "runs"),
    [("patient-view", True), ("batch", True), ("background", False), ("order-sign", False)],
)
def test_runs_on_patient_view_and_batch(hook: str, runs: bool) -> None:
    assert (RULE in engine(with_labs("N18.4", {"PTH": None}), hook)) is runs


# ---- vignettes (section 9) ---------------------------------------------------------------------
def test_v13_ckd_g3b_with_all_labs_current_does_not_fire() -> None:
    b = vignette_patient("V13")
    assert Facts(b.snapshot(), DEFAULT_PARAMETERS).ckd_stage == "G3b"
    assert RULE not in engine(b)


def test_v32_ckd_g4_with_old_ca_and_phosphate_and_no_pth_fires() -> None:
    b = (
        a_patient(63, "female")
        .lab("EGFR", 22, EGFR, days_ago=30)
        .lab("EGFR", 25, EGFR, days_ago=150)
        .lab("CA", 9.1, "mg/dL", days_ago=250)
        .lab("ALB", 3.9, "g/dL", days_ago=250)
        .lab("PO4", 4.4, "mg/dL", days_ago=250)
        .lab("VITD", 33, "ng/mL", days_ago=250)
        .dxa("T", "LS", -1.5, days_ago=500)
    )
    found = engine(b)
    assert found[RULE].indicator == "info"
    assert found[RULE].summary == "CKD G4: CKD-MBD labs overdue (calcium, phosphate, PTH)."
    assert "bone-risk-condition-dxa-due" not in found


@pytest.mark.parametrize("pth", [390.0, 720.0], ids=["V38", "V39"])
def test_v38_v39_dialysis_with_all_labs_current_does_not_fire(pth: float) -> None:
    b = (
        a_patient(66, "male")
        .lab("EGFR", 9, EGFR, days_ago=20)
        .lab("PTH", pth, "pg/mL", days_ago=20)
        .lab("CA", 9.2, "mg/dL", days_ago=20)
        .lab("ALB", 3.7, "g/dL", days_ago=20)
        .lab("PO4", 5.2, "mg/dL", days_ago=20)
        .lab("VITD", 31, "ng/mL", days_ago=200)
        .dxa("T", "LS", -1.8, days_ago=600)
        .condition("N18.6")
        .condition("Z99.2")
    )
    found = engine(b)
    assert RULE not in found
    assert "bone-risk-condition-dxa-due" not in found

"""C1 `low-bmd-secondary-workup`: core and conditional items, windows, status sources, hooks."""

from __future__ import annotations

from functools import partial

import pytest

from rules import evaluate
from rules.bone_density import low_bmd_secondary_workup as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS, Parameters
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import rule_ids_fired, vignette_patient

RULE = rule.RULE_ID
EGFR_UNIT = "mL/min/{1.73_m2}"
CORE = ("calcium", "phosphate", "renal", "vitd")


def finding(
    b: PatientBuilder,
    hook: str = "patient-view",
    selections: frozenset[str] | None = None,
    params: Parameters = DEFAULT_PARAMETERS,
) -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook, selections), params), params)


fired = partial(rule_ids_fired, rule=RULE)


def with_labs(b: PatientBuilder, days_ago: float = 30, skip: tuple[str, ...] = ()) -> PatientBuilder:
    """A normal work-up drawn `days_ago`, leaving out the items in `skip`."""
    if "calcium" not in skip:
        b.lab("CA", 9.4, "mg/dL", days_ago=days_ago).lab("ALB", 4.0, "g/dL", days_ago=days_ago)
    if "phosphate" not in skip:
        b.lab("PO4", 3.3, "mg/dL", days_ago=days_ago)
    if "renal" not in skip:
        b.lab("EGFR", 70, EGFR_UNIT, days_ago=days_ago)
    if "vitd" not in skip:
        b.lab("VITD", 34, "ng/mL", days_ago=days_ago)
    return b


def osteoporotic(age: int = 72, sex: str = "female") -> PatientBuilder:
    return a_patient(age, sex).condition("M81.0")


def test_complete_work_up_is_silent() -> None:
    assert finding(with_labs(osteoporotic())) is None


@pytest.mark.parametrize(
    ("skipped", "label"),
    [
        ("calcium", "calcium+albumin"),
        ("phosphate", "phosphate"),
        ("renal", "creatinine/eGFR"),
        ("vitd", "25-OH D"),
    ],
)
def test_each_missing_core_item_fires_and_is_listed(skipped: str, label: str) -> None:
    f = finding(with_labs(osteoporotic(), skip=(skipped,)))
    assert f is not None
    assert f.indicator == "info"
    assert f"({label})" in f.summary
    assert f.data["missing"] == label


@pytest.mark.parametrize(("days_ago", "fires"), [(365, False), (366, True)])
def test_work_up_counts_within_365_days(days_ago: int, fires: bool) -> None:
    f = finding(with_labs(osteoporotic(), days_ago=days_ago))
    assert (f is not None) is fires
    if f is not None:
        assert all(label in f.summary for label in ("calcium+albumin", "phosphate", "25-OH D"))


@pytest.mark.parametrize(
    ("calcium", "fires"),
    [
        ("total without albumin", True),
        ("total with albumin 48 h apart", False),
        ("total with albumin 49 h apart", True),
        ("ionized", False),
        ("lab-corrected", False),
    ],
)
def test_calcium_must_be_interpretable(calcium: str, fires: bool) -> None:
    b = with_labs(osteoporotic(), skip=("calcium",))
    if calcium.startswith("total"):
        b.lab("CA", 9.4, "mg/dL", days_ago=30)
    if calcium.endswith("48 h apart"):
        b.lab("ALB", 4.0, "g/dL", days_ago=32)
    if calcium.endswith("49 h apart"):
        b.lab("ALB", 4.0, "g/dL", days_ago=30, hours_ago=49)
    if calcium == "ionized":
        b.lab("ICA", 1.2, "mmol/L", days_ago=30)
    if calcium == "lab-corrected":
        b.lab("CA_LABCORR", 2.3, "mmol/L", days_ago=30)
    f = finding(b)
    assert (f is not None) is fires
    if f is not None:
        assert any(s.code == "1751-7" for s in f.suggestions)


@pytest.mark.parametrize(
    ("lab", "value", "unit"),
    [("CREAT", 0.9, "mg/dL"), ("EGFR", 70, EGFR_UNIT), ("EGFR_MDRD", 70, EGFR_UNIT)],
)
def test_creatinine_or_egfr_satisfies_the_renal_item(lab: str, value: float, unit: str) -> None:
    b = with_labs(osteoporotic(), skip=("renal",)).lab(lab, value, unit, days_ago=10)
    assert finding(b) is None


@pytest.mark.parametrize(
    ("labs", "fires"),
    [
        ((("VITD", 34, "ng/mL"),), False),
        ((("VITD_MOL", 80, "nmol/L"),), False),
        ((("VITD3", 30, "ng/mL"),), False),
        ((("VITD2", 5, "ng/mL"),), True),  # D2 alone is not a 25-OH D level
        ((("CALCITRIOL", 40, "pg/mL"),), True),  # 1,25(OH)2D is never 25-OH D
    ],
)
def test_which_vitamin_d_results_satisfy_the_item(
    labs: tuple[tuple[str, float, str], ...], fires: bool
) -> None:
    b = with_labs(osteoporotic(), skip=("vitd",))
    for name, value, unit in labs:
        b.lab(name, value, unit, days_ago=20)
    f = finding(b)
    assert (f is not None) is fires
    if f is not None:
        assert any(s.code == "62292-8" for s in f.suggestions)


@pytest.mark.parametrize(("accept_legacy", "fires"), [(False, True), (True, False)])
def test_legacy_vitamin_d_counts_only_when_the_site_accepts_it(accept_legacy: bool, fires: bool) -> None:
    b = with_labs(osteoporotic(), skip=("vitd",)).lab("VITD_LEGACY", 30, "ng/mL", days_ago=20)
    params = DEFAULT_PARAMETERS.with_overrides({"accept_vitd_legacy": accept_legacy})
    assert (finding(b, params=params) is not None) is fires


@pytest.mark.parametrize(
    ("high_ca_days_ago", "pth", "pth_missing"),
    [(100, False, True), (100, True, False), (366, False, False)],
)
def test_pth_is_required_after_a_high_calcium_within_365_days(
    high_ca_days_ago: int, pth: bool, pth_missing: bool
) -> None:
    b = with_labs(osteoporotic())
    b.lab("CA", 10.9, "mg/dL", days_ago=high_ca_days_ago).lab("ALB", 4.0, "g/dL", days_ago=high_ca_days_ago)
    if pth:
        b.lab("PTH", 50, "pg/mL", days_ago=90)
    f = finding(b)
    assert (f is not None) is pth_missing
    if f is not None:
        assert f.data["missing"] == "PTH"
        assert any(s.code == "2731-8" for s in f.suggestions)


def test_an_uncorrected_high_calcium_also_requires_pth() -> None:
    b = with_labs(osteoporotic()).lab("CA", 10.5, "mg/dL", days_ago=200)
    f = finding(b)
    assert f is not None
    assert f.data["missing"] == "PTH"


@pytest.mark.parametrize(
    ("context", "tsh_required"),
    [
        ("levothyroxine current", True),
        ("levothyroxine stopped", False),
        ("hyperthyroidism active", True),
        ("hyperthyroidism resolved", False),
        ("nothing", False),
    ],
)
def test_tsh_is_required_on_levothyroxine_or_with_active_hyperthyroidism(
    context: str, tsh_required: bool
) -> None:
    b = with_labs(osteoporotic())
    if context == "levothyroxine current":
        b.med("levothyroxine", since_days=500)
    if context == "levothyroxine stopped":
        b.med("levothyroxine", since_days=500, status="stopped", ended_days_ago=100)
    if context.startswith("hyperthyroidism"):
        b.condition("E05.90", active=context.endswith("active"))
    f = finding(b)
    assert (f is not None) is tsh_required
    if f is not None:
        assert f.data["missing"] == "TSH"
        assert any("levothyroxine" in n or "hyperthyroidism" in n for n in f.detail.splitlines())


@pytest.mark.parametrize(("tsh_days_ago", "fires"), [(365, False), (366, True)])
def test_tsh_counts_within_365_days(tsh_days_ago: int, fires: bool) -> None:
    b = with_labs(osteoporotic()).med("levothyroxine", since_days=900)
    b.lab("TSH", 1.5, "mIU/L", days_ago=tsh_days_ago)
    assert (finding(b) is not None) is fires


@pytest.mark.parametrize(
    ("status", "fires"),
    [
        ("M81.0 osteoporosis", True),
        ("M81.0 resolved (history counts)", True),
        ("Z87.310 fragility fracture", True),
        ("T-score -2.5 at 72", True),
        ("T-score -2.49 at 72", False),
        ("T-score -2.6 at 38 (Z-score population)", False),
        ("M81.0 at 38 (Z-score population, Condition)", True),
        ("osteopenia only", False),
        ("nothing", False),
    ],
)
def test_osteoporosis_status_sources(status: str, fires: bool) -> None:
    age = 38 if "38" in status else 72
    b = a_patient(age, "female")
    if status.startswith("M81.0"):
        b.condition("M81.0", active="resolved" not in status)
    if status.startswith("Z87.310"):
        b.condition("Z87.310")
    if status.startswith("T-score"):
        b.dxa("T", "LS", float(status.split()[1]), days_ago=40)
    if status == "osteopenia only":
        b.condition("M85.80").dxa("T", "FN", -1.8, days_ago=40)
    assert (finding(b) is not None) is fires


@pytest.mark.parametrize(
    ("hook", "draft", "selected", "fires"),
    [
        ("order-sign", "alendronate", None, True),
        ("order-sign", "teriparatide", None, True),
        ("order-sign", "prednisone", None, False),
        ("order-sign", None, None, False),
        ("order-select", "alendronate", True, True),
        ("order-select", "alendronate", False, False),
        ("patient-view", None, None, True),
        ("batch", None, None, True),
    ],
)
def test_order_hooks_need_an_osteoporosis_therapy_draft(
    hook: str, draft: str | None, selected: bool | None, fires: bool
) -> None:
    b = osteoporotic()
    if draft is not None:
        b.med(draft, draft=True, dose_mg=10)
    selections = None
    if selected is not None:
        refs = [d.reference for d in b.snapshot(hook).draft_orders]
        selections = frozenset(refs if selected else ["MedicationRequest/other"])
    f = finding(b, hook, selections)
    assert (f is not None) is fires
    if f is not None and draft is not None:
        assert any(e.reference.startswith("MedicationRequest/") for e in f.evidence)


def test_summary_stays_under_140_characters_with_every_item_missing() -> None:
    b = osteoporotic().lab("CA", 10.9, "mg/dL", days_ago=20).med("levothyroxine", since_days=400)
    f = finding(b)
    assert f is not None
    assert f.data["missing"].split(",") == [
        "calcium+albumin", "phosphate", "creatinine/eGFR", "25-OH D", "PTH", "TSH",
    ]  # fmt: skip
    assert len(f.summary) < 140
    assert f.summary.startswith("Osteoporosis: secondary-cause labs missing (")
    assert f.summary.endswith("Order before or with treatment.")


@pytest.mark.parametrize(("sex", "testosterone"), [("male", True), ("female", False)])
def test_optional_work_up_is_suggested_and_testosterone_only_for_men(sex: str, testosterone: bool) -> None:
    f = finding(osteoporotic(72, sex))
    assert f is not None
    labels = [s.label for s in f.suggestions]
    assert any("testosterone" in label for label in labels) is testosterone
    assert any(s.code == "6874-2" for s in f.suggestions)
    assert any("electrophoresis" in label for label in labels)


# ---- vignettes of RULES.md section 9 that involve C1 --------------------------------------------
def test_v41_vertebral_fracture_without_work_up_fires() -> None:
    b = (
        a_patient(76, "female")
        .dxa("T", "LS", -2.1, days_ago=60)
        .dxa("T", "FN", -2.3, days_ago=60)
        .condition("M80.08XA")
    )
    assert RULE in fired(b)


def test_v23_denosumab_order_with_complete_core_labs_is_silent() -> None:
    b = (
        a_patient(78, "female")
        .lab("CA", 8.1, "mg/dL", days_ago=10)
        .lab("ALB", 3.9, "g/dL", days_ago=10)
        .lab("EGFR", 24, EGFR_UNIT, days_ago=10)
        .lab("VITD", 16, "ng/mL", days_ago=10)
        .lab("PO4", 3.9, "mg/dL", days_ago=10)
        .med("denosumab", draft=True)
        .condition("M81.0")
    )
    assert RULE not in fired(b, "order-sign")


def test_v24_zoledronic_acid_order_with_complete_core_labs_is_silent() -> None:
    b = (
        a_patient(70, "male")
        .lab("EGFR", 32, EGFR_UNIT, days_ago=20)
        .lab("CA", 9.4, "mg/dL", days_ago=20)
        .lab("ALB", 4.0, "g/dL", days_ago=20)
        .lab("VITD", 35, "ng/mL", days_ago=20)
        .lab("PO4", 3.1, "mg/dL", days_ago=20)
        .med("zoledronic acid", draft=True)
        .condition("M81.0")
    )
    assert RULE not in fired(b, "order-sign")


def test_v25_alendronate_order_select_with_complete_work_up_is_silent() -> None:
    b = with_labs(a_patient(66, "female")).dxa("T", "LS", -2.7, days_ago=40)
    b.med("alendronate", draft=True, dose_mg=70)
    refs = frozenset(d.reference for d in b.snapshot("order-select").draft_orders)
    assert finding(b, "order-select", refs) is None
    assert RULE not in evaluate(b.snapshot("order-select", refs)).rule_ids


def test_v26_t_score_of_a_premenopausal_woman_does_not_trigger_the_work_up() -> None:
    b = (
        a_patient(38, "female")
        .dxa("Z", "LS", -2.4, days_ago=20)
        .dxa("T", "LS", -2.6, days_ago=20)
        .dxa("Z", "TH", -1.5, days_ago=20)
    )
    assert RULE not in fired(b)


def test_v27_treated_patient_with_labs_100_days_old_is_silent() -> None:
    b = with_labs(a_patient(72, "female"), days_ago=100).dxa("T", "LS", -2.6, days_ago=900)
    b.med("alendronate", since_days=1500, dose_mg=10)
    assert RULE not in fired(b)


def test_v45_denosumab_order_in_dialysis_with_complete_labs_is_silent() -> None:
    b = vignette_patient("V45")
    assert RULE not in fired(b, "order-sign")


def test_v02_phpt_without_osteoporosis_is_silent() -> None:
    b = (
        a_patient(58, "female")
        .lab("CA", 11.6, "mg/dL", days_ago=20)
        .lab("ALB", 4.0, "g/dL", days_ago=20)
        .lab("PTH", 120, "pg/mL", days_ago=20)
        .lab("EGFR", 72, EGFR_UNIT, days_ago=20)
        .lab("VITD", 34, "ng/mL", days_ago=20)
        .lab("PO4", 2.3, "mg/dL", days_ago=20)
        .lab("UCA24", 310, "mg/(24.h)", days_ago=100)
        .dxa("T", "LS", -1.7, days_ago=300)
        .dxa("T", "TH", -1.4, days_ago=300)
        .dxa("T", "FN", -1.6, days_ago=300)
        .dxa("T", "RAD", -1.9, days_ago=300)
        .condition("E21.0")
    )
    assert RULE not in fired(b)

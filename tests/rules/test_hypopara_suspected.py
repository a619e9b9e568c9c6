"""A10 `hypopara-suspected`: calcium kinds, the ±14-day PTH pairing, the Mg window and exclusions."""

from __future__ import annotations

from functools import partial

import pytest

from rules.parathyroid import hypopara_suspected
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import finding_of

RULE = "hypopara-suspected"


fired = partial(finding_of, rule=hypopara_suspected.RULE)


def low_ca(
    *,
    pth: float | None = 6,
    pth_name: str = "PTH",
    pth_days: float = 3,
    mg: float | None = 1.9,
    mg_name: str = "MG",
    mg_days: float = 3,
) -> PatientBuilder:
    """Corrected calcium 7.4 mg/dL on d-3 (V09-like), with PTH and Mg as given."""
    p = a_patient(52, "female").lab("CA", 7.4, "mg/dL", days_ago=3).lab("ALB", 4, "g/dL", days_ago=3)
    if pth is not None:
        p.lab(pth_name, pth, "pmol/L" if pth_name == "PTH_MOL" else "pg/mL", days_ago=pth_days)
    if mg is not None:
        p.lab(mg_name, mg, "mmol/L" if mg_name == "MG_MOL" else "mg/dL", days_ago=mg_days)
    return p


def test_v09_post_thyroidectomy_hypocalcaemia_with_low_pth() -> None:
    p = low_ca().lab("PO4", 5.1, "mg/dL", days_ago=3).med("levothyroxine", since_days=40)
    p.condition("E89.0")
    finding = fired(p)
    assert finding is not None
    assert finding.indicator == "warning"
    assert "Low calcium 7.4 mg/dL" in finding.summary
    assert "PTH 6 pg/mL" in finding.summary
    assert "possible hypoparathyroidism" in finding.summary
    assert not any(s.code == "19123-9" for s in finding.suggestions)  # Mg is on file
    assert "jc.2015-3907" in finding.detail


def test_v10_low_magnesium_means_functional_not_hypoparathyroidism() -> None:
    p = (
        a_patient(68, "male")
        .lab("CA", 7.9, "mg/dL", days_ago=2)
        .lab("ALB", 3.9, "g/dL", days_ago=2)
        .lab("PTH", 12, "pg/mL", days_ago=2)
        .lab("MG", 0.9, "mg/dL", days_ago=2)
        .med("omeprazole", since_days=800, dose_mg=40)
    )
    assert fired(p) is None


def test_v37_no_pth_leaves_it_to_hypocalcemia() -> None:
    p = (
        a_patient(64, "male")
        .lab("ICA", 0.92, "mmol/L", hours_ago=12)
        .lab("CA", 7.9, "mg/dL", hours_ago=12)
        .lab("ALB", 2.4, "g/dL", hours_ago=12)
    )
    assert fired(p) is None


def test_v07_low_total_explained_by_low_albumin_is_not_low() -> None:
    p = (
        a_patient(72, "male")
        .lab("CA", 7.9, "mg/dL", days_ago=2)
        .lab("ALB", 2.5, "g/dL", days_ago=2)
        .lab("PTH", 10, "pg/mL", days_ago=2)
    )
    assert fired(p) is None


@pytest.mark.parametrize(
    ("name", "value", "unit", "fires"),
    [
        ("ICA", 0.95, "mmol/L", True),
        ("CA_LABCORR", 1.95, "mmol/L", True),
        ("CA", 7.8, "mg/dL", False),  # uncorrected total (V08): hypopara-suspected does not run
    ],
)
def test_only_interpretable_calcium_kinds_count(name: str, value: float, unit: str, fires: bool) -> None:
    p = a_patient(45, "female").lab(name, value, unit, days_ago=1).lab("PTH", 10, "pg/mL", days_ago=1)
    assert (fired(p) is not None) is fires


def test_an_albumin_corrected_low_calcium_counts() -> None:
    assert fired(low_ca()) is not None


@pytest.mark.parametrize(
    ("pth", "name", "fires"),
    [
        (65, "PTH", True),
        (65.01, "PTH", False),
        (6.89, "PTH_MOL", True),  # 64.97 pg/mL
        (6.9, "PTH_MOL", False),  # 65.07 pg/mL
        (2.9, "PTH", True),
    ],
)
def test_pth_must_not_be_above_the_uln(pth: float, name: str, fires: bool) -> None:
    assert (fired(low_ca(pth=pth, pth_name=name)) is not None) is fires


def test_pth_below_detection_limit_counts_as_not_raised() -> None:
    p = low_ca(pth=None).lab("PTH", 3, "pg/mL", days_ago=3, comparator="<")
    assert fired(p) is not None


def test_pth_in_pmol_per_litre_is_shown_as_reported() -> None:
    finding = fired(low_ca(pth=0.7, pth_name="PTH_MOL"))
    assert finding is not None
    assert "PTH 0.7 pmol/L" in finding.summary


def test_the_labs_own_pth_uln_applies() -> None:
    p = low_ca(pth=None).lab("PTH", 55, "pg/mL", days_ago=3, ref=(10, 50))
    assert fired(p) is None


@pytest.mark.parametrize(
    ("pth_days", "fires"),
    [(17, True), (18, False)],  # calcium on d-3: PTH 14 d earlier pairs, 15 d earlier does not
)
def test_pth_is_paired_within_14_days_of_the_index_calcium(pth_days: int, fires: bool) -> None:
    assert (fired(low_ca(pth_days=pth_days)) is not None) is fires


@pytest.mark.parametrize(("pth_days", "fires"), [(6, True), (5, False)])
def test_pth_up_to_14_days_after_the_calcium_pairs(pth_days: int, fires: bool) -> None:
    p = (
        a_patient(52, "female")
        .lab("ICA", 0.95, "mmol/L", days_ago=20)
        .lab("PTH", 10, "pg/mL", days_ago=pth_days)
    )
    assert (fired(p) is not None) is fires


def test_the_closest_pth_decides() -> None:
    p = low_ca(pth=10, pth_days=12).lab("PTH", 90, "pg/mL", days_ago=4)
    assert fired(p) is None


@pytest.mark.parametrize(
    ("mg", "name", "fires"),
    [
        (1.7, "MG", True),
        (1.69, "MG", False),
        (0.70, "MG_MOL", True),  # 1.70 mg/dL
        (0.69, "MG_MOL", False),  # 1.68 mg/dL
    ],
)
def test_low_magnesium_excludes_it_at_the_lln(mg: float, name: str, fires: bool) -> None:
    assert (fired(low_ca(mg=mg, mg_name=name)) is not None) is fires


def test_the_labs_own_magnesium_lln_applies() -> None:
    p = low_ca(mg=None).lab("MG", 1.75, "mg/dL", days_ago=3, ref=(1.8, 2.6))
    assert fired(p) is None


@pytest.mark.parametrize(
    ("mg_days", "fires"),
    [(33, False), (34, True)],  # calcium on d-3: Mg from 30 d before it counts, 31 d does not
)
def test_magnesium_is_read_from_30_days_before_the_index_calcium(mg_days: int, fires: bool) -> None:
    assert (fired(low_ca(mg=1.2, mg_days=mg_days)) is not None) is fires


def test_a_low_magnesium_after_the_calcium_also_excludes_it() -> None:
    assert fired(low_ca(mg=1.2, mg_days=1)) is None


def test_the_latest_magnesium_in_the_window_decides() -> None:
    p = low_ca(mg=1.2, mg_days=20).lab("MG", 1.9, "mg/dL", days_ago=1)
    assert fired(p) is not None


def test_missing_magnesium_still_fires_and_asks_for_it() -> None:
    finding = fired(low_ca(mg=None))
    assert finding is not None
    assert any(s.code == "19123-9" for s in finding.suggestions)


def test_missing_pth_is_silent() -> None:
    assert fired(low_ca(pth=None)) is None


@pytest.mark.parametrize(("active", "fires"), [(True, False), (False, True)])
def test_active_pseudohypoparathyroidism_excludes_it(active: bool, fires: bool) -> None:
    assert (fired(low_ca().condition("E20.1", active=active)) is not None) is fires


def test_normal_or_high_calcium_is_silent() -> None:
    p = a_patient(52, "female").lab("CA", 9.4, "mg/dL", days_ago=3).lab("ALB", 4, "g/dL", days_ago=3)
    assert fired(p.lab("PTH", 6, "pg/mL", days_ago=3)) is None


@pytest.mark.parametrize(("ca_days", "fires"), [(90, True), (91, False)])
def test_the_index_calcium_must_lie_within_90_days(ca_days: int, fires: bool) -> None:
    p = (
        a_patient(52, "female")
        .lab("ICA", 0.95, "mmol/L", days_ago=ca_days)
        .lab("PTH", 10, "pg/mL", days_ago=ca_days)
    )
    assert (fired(p) is not None) is fires


def test_runs_on_background_notifications() -> None:
    assert fired(low_ca(), hook="background") is not None


def test_a_known_hypoparathyroidism_diagnosis_is_mentioned_not_excluded() -> None:
    finding = fired(low_ca().condition("E20.9"))
    assert finding is not None
    assert "already on the problem list" in finding.detail

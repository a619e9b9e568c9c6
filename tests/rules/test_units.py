"""Unit normalisation, plausibility and comparators (RULES.md 1.2 item 7, 3.1)."""

from __future__ import annotations

import pytest

from rules.snapshot import Analyte
from rules.units import SCORE, TABLES, apply_comparator, is_plausible, to_canonical


@pytest.mark.parametrize(
    ("analyte", "value", "code", "unit", "expected"),
    [
        (Analyte.CA_TOTAL, 2.75, "mmol/L", None, 11.022),
        (Analyte.CA_TOTAL, 100, "mg/L", None, 10.0),
        (Analyte.CA_TOTAL, 5, "meq/L", None, 10.02),
        (Analyte.CA_TOTAL, 9.4, None, "mg/dl", 9.4),
        (Analyte.CA_ION, 4.6, "mg/dL", None, 1.1477),
        (Analyte.ALBUMIN, 38, "g/L", None, 3.8),
        (Analyte.PTH, 9.8, "pmol/L", None, 92.414),
        (Analyte.PTH, 70, None, "ng/L", 70),
        (Analyte.VITD_TOTAL, 70, None, "nmol/l", 28.042),
        (Analyte.VITD_D3, 40, "nmol/L", None, 16.024),
        (Analyte.PHOS, 1.0, "mmol/L", None, 3.097),
        (Analyte.MG, 0.7, "mmol/L", None, 1.7017),
        (Analyte.CREAT, 88.42, None, "µmol/L", 1.0),
        (Analyte.EGFR, 1.0, "mL/s/{1.73_m2}", None, 60.0),
        (Analyte.TSH, 0.05, None, "uIU/mL", 0.05),
        (Analyte.UCA24, 7.5, "mmol/(24.h)", None, 300.6),
        (Analyte.UCA24, 0.31, "g/(24.h)", None, 310.0),
    ],
)
def test_accepted_units_convert_to_the_canonical_unit(
    analyte: Analyte, value: float, code: str | None, unit: str | None, expected: float
) -> None:
    assert to_canonical(TABLES[analyte], value, code, unit) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("analyte", "code", "unit"),
    [
        (Analyte.CA_TOTAL, None, None),
        (Analyte.CA_TOTAL, None, "mg"),
        (Analyte.EGFR, "mL/min", "mL/min"),  # Synthea's panel eGFR: absolute, not per 1.73 m²
        (Analyte.PTH, None, "pg"),
        (Analyte.VITD_TOTAL, "pg/mL", None),
    ],
)
def test_missing_or_unknown_units_are_never_guessed(
    analyte: Analyte, code: str | None, unit: str | None
) -> None:
    assert to_canonical(TABLES[analyte], 10.0, code, unit) is None


def test_the_ucum_code_wins_over_the_printed_unit() -> None:
    assert to_canonical(TABLES[Analyte.CA_TOTAL], 2.5, "mmol/L", "mg/dL") == pytest.approx(10.02)


def test_scores_take_no_unit_or_the_score_units() -> None:
    for code in ("1", "{T-score}", "{Z-score}", None):
        assert to_canonical(SCORE, -2.5, code, None) == -2.5
    assert to_canonical(SCORE, -2.5, None, "T-Score") == -2.5


@pytest.mark.parametrize(
    ("analyte", "value", "plausible"),
    [
        (Analyte.CA_TOTAL, 2.0, True),
        (Analyte.CA_TOTAL, 1.99, False),
        (Analyte.CA_TOTAL, 20.0, True),
        (Analyte.CA_TOTAL, 20.01, False),
        (Analyte.CA_ION, 3.01, False),
        (Analyte.EGFR, 0.9, False),
        (Analyte.VITD_TOTAL, 300.0, True),
        (Analyte.VITD_TOTAL, 300.1, False),
    ],
)
def test_plausibility_bounds_are_inclusive(analyte: Analyte, value: float, plausible: bool) -> None:
    assert is_plausible(TABLES[analyte], value) is plausible


@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [
        (3.0, "<", 2.997),
        (3.0, "<=", 2.997),
        (150.0, ">", 150.15),
        (150.0, ">=", 150.15),
        (-2.5, "<", -2.5025),  # ε = 0.001 × |x| also for negative values (10.1 #3)
        (3.0, None, 3.0),
    ],
)
def test_comparators_shift_by_a_thousandth(value: float, comparator: str | None, expected: float) -> None:
    assert apply_comparator(value, comparator) == pytest.approx(expected)

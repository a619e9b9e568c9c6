"""`factor_for` remembers its answers per table: the same answers, a bounded memory, and tables
that compare and print as before."""

from __future__ import annotations

import pytest

from rules.snapshot import Analyte
from rules.units import TABLES, UnitTable, factor_for, ucum_for


def _direct(table: UnitTable, code: str | None, unit: str | None) -> float | None:
    ucum = ucum_for(table, code, unit)
    return None if ucum is None else table.factors[ucum]


PAIRS = [
    ("mmol/L", None), (None, "mmol/L"), ("mg/dL", "mmol/L"), (None, " MG/DL "), (None, "furlongs"),
    (None, None), ("", ""), ("mg/L", "mg/L"), ("umol/L", None), (None, "µmol/l"),
]  # fmt: skip


@pytest.mark.parametrize("analyte", list(Analyte))
def test_remembered_factors_are_the_factors(analyte: Analyte) -> None:
    table = TABLES[analyte]
    for _ in range(2):  # the second round answers from memory
        assert [factor_for(table, c, u) for c, u in PAIRS] == [_direct(table, c, u) for c, u in PAIRS]


def test_memory_is_bounded_and_answers_stay_right_beyond_it() -> None:
    table = UnitTable("mg/dL", {"mg/dL": 1.0, "mmol/L": 4.0}, 0.0, 10.0)
    for n in range(2000):
        assert factor_for(table, None, f"unit {n}") is None
    assert len(table.memo) <= 512
    assert factor_for(table, "mmol/L", None) == 4.0


def test_tables_compare_and_print_without_their_memory() -> None:
    used = UnitTable("g/dL", {"g/dL": 1.0}, 0.5, 7.0)
    factor_for(used, "g/dL", None)
    assert used == UnitTable("g/dL", {"g/dL": 1.0}, 0.5, 7.0)
    assert "memo" not in repr(used)

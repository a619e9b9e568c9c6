"""Unit normalisation, plausibility bounds and comparators (RULES.md 1.2 item 7 and 3.1).

Matching uses the UCUM code first, then a case-insensitive synonym table for the printed unit.
A missing or unknown unit is never guessed: `normalise` answers `None` and the caller ignores the
result with reason `unit-unrecognised`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.snapshot import Analyte

_MEMO_MAX = 512  # (code, unit) pairs remembered per table: real data use a handful


@dataclass(frozen=True, slots=True)
class UnitTable:
    canonical: str
    factors: dict[str, float]  # UCUM code → factor to canonical
    low: float  # plausibility bounds, canonical, inclusive
    high: float
    # `factor_for` answers by (code, unit) pair: every result of a population asks again.
    memo: dict[tuple[str | None, str | None], float | None] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )


_CA = UnitTable("mg/dL", {"mg/dL": 1.0, "mmol/L": 4.008, "mg/L": 0.1, "meq/L": 2.004}, 2.0, 20.0)
_CA_ION = UnitTable("mmol/L", {"mmol/L": 1.0, "mg/dL": 0.2495, "meq/L": 0.5}, 0.3, 3.0)
_ALB = UnitTable("g/dL", {"g/dL": 1.0, "g/L": 0.1}, 0.5, 7.0)
_PTH = UnitTable("pg/mL", {"pg/mL": 1.0, "ng/L": 1.0, "pmol/L": 9.43}, 0.0, 5000.0)
_VITD = UnitTable("ng/mL", {"ng/mL": 1.0, "ug/L": 1.0, "nmol/L": 0.4006}, 0.0, 300.0)
_PHOS = UnitTable("mg/dL", {"mg/dL": 1.0, "mmol/L": 3.097}, 0.3, 20.0)
_MG = UnitTable("mg/dL", {"mg/dL": 1.0, "mmol/L": 2.431, "meq/L": 1.2155}, 0.2, 10.0)
_CREAT = UnitTable("mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 88.42}, 0.1, 30.0)
_EGFR = UnitTable("mL/min/{1.73_m2}", {"mL/min/{1.73_m2}": 1.0, "mL/s/{1.73_m2}": 60.0}, 1.0, 200.0)
_TSH = UnitTable("m[IU]/L", {"m[IU]/L": 1.0, "u[IU]/mL": 1.0}, 0.0, 500.0)
_UCA = UnitTable("mg/(24.h)", {"mg/(24.h)": 1.0, "mmol/(24.h)": 40.08, "g/(24.h)": 1000.0}, 0.0, 2000.0)
SCORE = UnitTable("1", {"1": 1.0, "{T-score}": 1.0, "{Z-score}": 1.0, "": 1.0}, -8.0, 8.0)
BMD = UnitTable("g/cm2", {"g/cm2": 1.0}, 0.1, 3.0)

TABLES: dict[Analyte, UnitTable] = {
    Analyte.CA_TOTAL: _CA,
    Analyte.CA_LABCORR: _CA,
    Analyte.CA_ION: _CA_ION,
    Analyte.ALBUMIN: _ALB,
    Analyte.PTH: _PTH,
    Analyte.VITD_TOTAL: _VITD,
    Analyte.VITD_D3: _VITD,
    Analyte.VITD_D2: _VITD,
    Analyte.VITD_LEGACY: _VITD,
    Analyte.PHOS: _PHOS,
    Analyte.MG: _MG,
    Analyte.CREAT: _CREAT,
    Analyte.EGFR: _EGFR,
    Analyte.TSH: _TSH,
    Analyte.UCA24: _UCA,
}

# Printed-unit synonyms (lower-cased) → UCUM code. UCUM codes themselves are matched case-insensitively too.
_SYNONYMS: dict[str, str] = {
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "mg/l": "mg/L",
    "meq/l": "meq/L",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "pg/ml": "pg/mL",
    "ng/l": "ng/L",
    "pmol/l": "pmol/L",
    "ng/ml": "ng/mL",
    "ug/l": "ug/L",
    "µg/l": "ug/L",
    "μg/l": "ug/L",
    "nmol/l": "nmol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m²": "mL/min/{1.73_m2}",
    "ml/min/1.73 m²": "mL/min/{1.73_m2}",
    "ml/s/{1.73_m2}": "mL/s/{1.73_m2}",
    "m[iu]/l": "m[IU]/L",
    "miu/l": "m[IU]/L",
    "u[iu]/ml": "u[IU]/mL",
    "uiu/ml": "u[IU]/mL",
    "µiu/ml": "u[IU]/mL",
    "μiu/ml": "u[IU]/mL",
    "mg/(24.h)": "mg/(24.h)",
    "mg/24h": "mg/(24.h)",
    "mg/24 h": "mg/(24.h)",
    "mg/d": "mg/(24.h)",
    "mmol/(24.h)": "mmol/(24.h)",
    "mmol/24h": "mmol/(24.h)",
    "mmol/24 h": "mmol/(24.h)",
    "g/(24.h)": "g/(24.h)",
    "g/24h": "g/(24.h)",
    "{t-score}": "{T-score}",
    "{z-score}": "{Z-score}",
    "t-score": "{T-score}",
    "z-score": "{Z-score}",
    "g/cm2": "g/cm2",
    "g/cm²": "g/cm2",
}


def ucum_for(table: UnitTable, code: str | None, unit: str | None) -> str | None:
    """The accepted UCUM code for a quantity's `code` (first) or printed `unit`; None if unrecognised."""
    if code is not None and code in table.factors:
        return code
    for candidate in (code, unit):
        if candidate is None:
            continue
        mapped = _SYNONYMS.get(candidate.strip().lower())
        if mapped is not None and mapped in table.factors:
            return mapped
    if code is None and unit is None and "" in table.factors:
        return ""
    if (code or "") == "" and (unit or "") == "" and "" in table.factors:
        return ""
    return None


def factor_for(table: UnitTable, code: str | None, unit: str | None) -> float | None:
    key = (code, unit)
    memo = table.memo
    try:
        return memo[key]
    except KeyError:
        pass
    ucum = ucum_for(table, code, unit)
    factor = None if ucum is None else table.factors[ucum]
    if len(memo) < _MEMO_MAX:
        memo[key] = factor
    return factor


def apply_comparator(value: float, comparator: str | None, epsilon: float = 0.001) -> float:
    """`<x` / `<=x` → x − ε, `>x` / `>=x` → x + ε, with ε = epsilon × |x| (RULES.md 1.2 item 7)."""
    if comparator in ("<", "<="):
        return value - epsilon * abs(value)
    if comparator in (">", ">="):
        return value + epsilon * abs(value)
    return value


def is_plausible(table: UnitTable, canonical_value: float) -> bool:
    return table.low <= canonical_value <= table.high


def to_canonical(table: UnitTable, value: float, code: str | None, unit: str | None) -> float | None:
    """`value` in the table's canonical unit, or None when the unit is not recognised."""
    factor = factor_for(table, code, unit)
    return None if factor is None else value * factor

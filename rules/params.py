"""Every threshold and window of RULES.md section 4 (and the default ranges of 3.4), as named configuration.

Defaults are the guideline values. A site overrides them by name (`Parameters.with_overrides`), with
either the field name (`ca_window_days`) or the RULES.md name (`CA_WINDOW`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Range:
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class Parameters:
    # Windows (days) and pairings
    ca_window_days: int = 90  # CA_WINDOW
    severe_window_days: int = 7  # SEVERE_WINDOW
    alb_pair_hours: int = 48  # ALB_PAIR
    pth_pair_hyper_days: int = 30  # PTH_PAIR_HYPER
    pth_pair_hypo_days: int = 14  # PTH_PAIR_HYPO
    mg_pair_days: int = 30  # MG_PAIR
    pth_window_days: int = 365  # PTH_WINDOW
    vitd_window_days: int = 365  # VITD_WINDOW
    egfr_window_days: int = 365  # EGFR_WINDOW
    egfr_order_window_days: int = 180  # EGFR_WINDOW at order time
    uca_window_days: int = 730  # UCA_WINDOW
    dxa_recent_days: int = 730  # DXA_RECENT
    dxa_phpt_days: int = 1095  # DXA_PHPT
    drug_hyperca_days: int = 90  # DRUG_HYPERCA
    drug_nphpt_days: int = 365  # DRUG_NPHPT
    tsh_window_days: int = 180  # TSH_WINDOW
    mg_window_days: int = 30  # A11: latest Mg within 30 d
    ca_any_high_days: int = 365  # A3 intermittent / A7 / A8: any HIGH calcium within 365 d
    ca_near_pth_days: int = 30  # A7 (d) / A8: calcium results within ±30 d of the index PTH
    op_therapy_days: int = 365  # 3.6 on osteoporosis therapy
    zoledronic_days: int = 1095  # 3.6 zoledronic acid counts for 3 years
    episode_gap_days: int = 30  # 1.3 episode bridging
    workup_window_days: int = 365  # C1: secondary-cause labs (core and conditional) within 365 d
    z_window_days: int = 730  # C2: Z-scores within 730 d

    # Thresholds (canonical units)
    pth_nonsuppressed: float = 20.0  # PTH_NONSUPPRESSED pg/mL
    ca_severe_high: float = 14.0  # CA_SEVERE_HIGH mg/dL
    ca_severe_high_ionized: float = 1.75  # mmol/L
    ca_severe_low: float = 7.6  # CA_SEVERE_LOW mg/dL (corrected)
    ca_severe_low_ionized: float = 1.00  # mmol/L
    phpt_ca_margin: float = 1.0  # PHPT_CA_MARGIN mg/dL above ULN
    phpt_ca_margin_ionized: float = 0.12  # mmol/L above ionized ULN
    uca_female: float = 250.0  # UCA_F mg/24 h (also sex unknown: the more sensitive value)
    uca_male: float = 300.0  # UCA_M
    egfr_phpt: float = 60.0  # EGFR_PHPT
    t_osteo: float = -2.5  # T_OSTEO
    t_osteopenia: float = -1.0  # 3.6 osteopenia
    z_low: float = -2.0  # Z_LOW
    vitd_severe: float = 12.0  # VITD_SEVERE ng/mL
    vitd_deficient: float = 20.0  # VITD_DEFICIENT
    vitd_bone_target: float = 30.0  # VITD_BONE_TARGET
    vitd_nphpt_min: float = 30.0  # VITD_NPHPT_MIN
    vitd_high: float = 100.0  # VITD_HIGH
    vitd_toxic: float = 150.0  # VITD_TOXIC
    mg_severe: float = 1.2  # MG_SEVERE mg/dL
    gc_dose: float = 2.5  # GC_DOSE mg/day prednisone-equivalent
    gc_days: int = 90  # GC_DAYS
    gc_lookback_days: int = 180  # C4: ≥ 90 distinct days within the last 180 d
    gc_unknown_duration_days: int = 60  # C4 order hooks: ≥ 60 d of exposure in the last 90 d
    tsh_suppressed: float = 0.1  # TSH_SUPPRESSED mIU/L
    pth_g5d_max_x_uln: float = 9.0  # PTH_G5D_MAX
    egfr_zol: float = 35.0  # EGFR_ZOL
    egfr_aln: float = 35.0  # EGFR_ALN
    egfr_ris_ibn: float = 30.0  # EGFR_RIS_IBN
    egfr_dmab: float = 30.0  # EGFR_DMAB
    egfr_ckd: float = 60.0  # A8 cause `ckd`, A7 (f), 3.6 CKD staging
    egfr_g5: float = 15.0  # A7/A8: eGFR < 15 handled as G5D
    albumin_unreliable: float = 3.0  # 3.2: below this, recommend ionized calcium
    egfr_unreliable: float = 30.0  # 3.2: below this, recommend ionized calcium
    egfr_tertiary_hpt: float = 30.0  # A3: below this (or dialysis), tertiary HPT wording
    age_adult: int = 18
    age_postmenopausal: int = 50
    age_screening_female: int = 65  # C8
    age_phpt_young: int = 50  # A6 criterion (7)
    age_condition_floor: int = 50  # C9 age floor for the second group of conditions
    age_tsh_risk: int = 65  # C10
    comparator_epsilon: float = 0.001  # 1.2 item 7: ε = 0.001 × |x|

    # Default adult reference ranges (3.4) and the sanity bands for lab-supplied bounds
    range_ca_total: Range = field(default_factory=lambda: Range(8.6, 10.2))
    range_ca_ion: Range = field(default_factory=lambda: Range(1.12, 1.32))
    range_albumin: Range = field(default_factory=lambda: Range(3.5, 5.0))
    range_pth: Range = field(default_factory=lambda: Range(15.0, 65.0))
    range_phos: Range = field(default_factory=lambda: Range(2.5, 4.5))
    range_mg: Range = field(default_factory=lambda: Range(1.7, 2.2))
    range_tsh: Range = field(default_factory=lambda: Range(0.4, 4.0))
    sanity_ca_total_lln: Range = field(default_factory=lambda: Range(7.5, 9.5))
    sanity_ca_total_uln: Range = field(default_factory=lambda: Range(9.5, 11.0))
    sanity_ca_ion_lln: Range = field(default_factory=lambda: Range(0.9, 1.3))
    sanity_ca_ion_uln: Range = field(default_factory=lambda: Range(1.2, 1.5))
    sanity_pth_uln: Range = field(default_factory=lambda: Range(35.0, 100.0))
    sanity_mg_lln: Range = field(default_factory=lambda: Range(1.4, 2.0))

    # CKD-MBD monitoring intervals (D1), days: (calcium, phosphate, PTH, 25-OH D)
    ckd_mbd_g3: tuple[int, int, int, int] = (365, 365, 730, 730)
    ckd_mbd_g4: tuple[int, int, int, int] = (180, 180, 365, 730)
    ckd_mbd_g5: tuple[int, int, int, int] = (90, 90, 180, 730)

    # Options
    accept_vitd_legacy: bool = False  # VITD_LEGACY only if the site confirms it is a 25-OH D assay
    include_antiandrogens: bool = False  # C5: bicalutamide (ASCO "antiandrogens") off by default

    def with_overrides(self, overrides: Mapping[str, object]) -> Parameters:
        """A copy with the named values replaced; unknown names raise `KeyError` (a typo must not pass)."""
        changes: dict[str, object] = {}
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in overrides.items():
            name = SPEC_NAMES.get(key, key)
            if name not in names:
                raise KeyError(f"unknown rule parameter {key!r}")
            current = getattr(self, name)
            if isinstance(current, Range) and isinstance(value, list | tuple) and len(value) == 2:
                low, high = value
                changes[name] = Range(_num_or_none(low), _num_or_none(high))
            elif isinstance(current, tuple) and isinstance(value, list | tuple):
                changes[name] = tuple(int(v) for v in value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise TypeError(f"rule parameter {key!r} must be true or false")
                changes[name] = value
            elif isinstance(current, int):
                changes[name] = int(_num(value, key))
            elif isinstance(current, float):
                changes[name] = float(_num(value, key))
            else:
                raise TypeError(f"rule parameter {key!r} cannot be set to {value!r}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _num(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"rule parameter {key!r} must be a number")
    return float(value)


def _num_or_none(value: object) -> float | None:
    return None if value is None else _num(value, "range bound")


# RULES.md section 4 names → field names.
SPEC_NAMES: dict[str, str] = {
    "CA_WINDOW": "ca_window_days",
    "SEVERE_WINDOW": "severe_window_days",
    "ALB_PAIR": "alb_pair_hours",
    "PTH_PAIR_HYPER": "pth_pair_hyper_days",
    "PTH_PAIR_HYPO": "pth_pair_hypo_days",
    "MG_PAIR": "mg_pair_days",
    "PTH_WINDOW": "pth_window_days",
    "VITD_WINDOW": "vitd_window_days",
    "EGFR_WINDOW": "egfr_window_days",
    "UCA_WINDOW": "uca_window_days",
    "DXA_RECENT": "dxa_recent_days",
    "DXA_PHPT": "dxa_phpt_days",
    "DRUG_HYPERCA": "drug_hyperca_days",
    "DRUG_NPHPT": "drug_nphpt_days",
    "TSH_WINDOW": "tsh_window_days",
    "PTH_NONSUPPRESSED": "pth_nonsuppressed",
    "CA_SEVERE_HIGH": "ca_severe_high",
    "CA_SEVERE_LOW": "ca_severe_low",
    "PHPT_CA_MARGIN": "phpt_ca_margin",
    "UCA_F": "uca_female",
    "UCA_M": "uca_male",
    "EGFR_PHPT": "egfr_phpt",
    "T_OSTEO": "t_osteo",
    "Z_LOW": "z_low",
    "VITD_SEVERE": "vitd_severe",
    "VITD_DEFICIENT": "vitd_deficient",
    "VITD_BONE_TARGET": "vitd_bone_target",
    "VITD_NPHPT_MIN": "vitd_nphpt_min",
    "VITD_HIGH": "vitd_high",
    "VITD_TOXIC": "vitd_toxic",
    "MG_SEVERE": "mg_severe",
    "GC_DOSE": "gc_dose",
    "GC_DAYS": "gc_days",
    "TSH_SUPPRESSED": "tsh_suppressed",
    "PTH_G5D_MAX": "pth_g5d_max_x_uln",
    "EGFR_ZOL": "egfr_zol",
    "EGFR_ALN": "egfr_aln",
    "EGFR_RIS_IBN": "egfr_ris_ibn",
    "EGFR_DMAB": "egfr_dmab",
}

DEFAULT_PARAMETERS = Parameters()

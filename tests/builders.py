"""Patient builders for tests: one fluent description, turned into a `PatientSnapshot` directly.

`a_patient(age=67, sex="female").lab("CA", 11.2, "mg/dL", days_ago=10).snapshot()`

The builder keeps its own small code tables (short names → LOINC and analyte, ICD-10 → sets,
ingredient → classes) on purpose: it is an oracle independent of the adapter's code-set files, so
that the FHIR path (`bundle()`) and the direct path (`snapshot()`) check each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rules.snapshot import (
    Analyte,
    ConditionRecord,
    DxaEvent,
    DxaScore,
    DxaSite,
    Hook,
    LabResult,
    MedicationExposure,
    PatientSnapshot,
    ProcedureRecord,
)
from rules.units import SCORE, TABLES, apply_comparator, is_plausible, to_canonical

# A fixed evaluation instant keeps tests reproducible.
T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# short name → (analyte, LOINC, display)
LABS: dict[str, tuple[Analyte | None, str, str]] = {
    "CA": (Analyte.CA_TOTAL, "17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
    "CA_MOL": (Analyte.CA_TOTAL, "2000-8", "Calcium [Moles/volume] in Serum or Plasma"),
    "CA_LABCORR": (Analyte.CA_LABCORR, "29265-6", "Calcium corrected for albumin"),
    "ICA": (Analyte.CA_ION, "1994-3", "Calcium.ionized [Moles/volume] in Blood"),
    "ALB": (Analyte.ALBUMIN, "1751-7", "Albumin [Mass/volume] in Serum or Plasma"),
    "PTH": (Analyte.PTH, "2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
    "PTH_MOL": (Analyte.PTH, "14866-8", "Parathyrin.intact [Moles/volume] in Serum or Plasma"),
    "VITD": (Analyte.VITD_TOTAL, "62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume]"),
    "VITD_MOL": (Analyte.VITD_TOTAL, "68438-1", "25-Hydroxyvitamin D2+D3 [Moles/volume]"),
    "VITD3": (Analyte.VITD_D3, "1989-3", "25-Hydroxyvitamin D3 [Mass/volume]"),
    "VITD3_MOL": (Analyte.VITD_D3, "14635-7", "25-Hydroxyvitamin D3 [Moles/volume]"),
    "VITD2": (Analyte.VITD_D2, "49054-0", "25-Hydroxyvitamin D2"),
    "VITD_LEGACY": (Analyte.VITD_LEGACY, "35365-6", "Vitamin D+Metabolites [Mass/volume]"),
    "CALCITRIOL": (None, "62290-2", "1,25-Dihydroxyvitamin D"),
    "PO4": (Analyte.PHOS, "2777-1", "Phosphate [Mass/volume] in Serum or Plasma"),
    "MG": (Analyte.MG, "19123-9", "Magnesium [Mass/volume] in Serum or Plasma"),
    "MG_MOL": (Analyte.MG, "2601-3", "Magnesium [Moles/volume] in Serum or Plasma"),
    "CREAT": (Analyte.CREAT, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    "EGFR": (Analyte.EGFR, "98979-8", "eGFR CKD-EPI 2021"),
    "EGFR_MDRD": (Analyte.EGFR, "33914-3", "eGFR MDRD"),
    "TSH": (Analyte.TSH, "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
    "UCA24": (Analyte.UCA24, "6874-2", "Calcium [Mass/time] in 24 hour Urine"),
}

# eGFR codes' preference within one draw (RULES.md 2.1 order), for the codes the builder uses.
EGFR_RANKS = {"98979-8": 0, "33914-3": 6}

# (kind, site) → LOINC
DXA_CODES: dict[tuple[str, str], str] = {
    ("T", "LS"): "38267-1",
    ("T", "TH"): "38264-8",
    ("T", "FN"): "38263-0",
    ("T", "RAD"): "38265-5",
    ("Z", "LS"): "85394-5",
    ("Z", "TH"): "80933-5",
    ("Z", "FN"): "80934-3",
    ("Z", "RAD"): "80932-7",
}

# ICD-10-CM code → condition sets (only what tests use).
CONDITION_SETS: dict[str, frozenset[str]] = {
    "E21.0": frozenset({"PHPT"}),
    "E20.9": frozenset({"HYPOPARA"}),
    "E20.1": frozenset({"PSEUDOHYPOPARA"}),
    "E89.2": frozenset({"HYPOPARA"}),
    "E89.0": frozenset(),
    "M06.9": frozenset({"RA"}),
    "M81.0": frozenset({"OSTEOPOROSIS"}),
    "M80.08XA": frozenset({"OSTEOPOROSIS", "FRAGILITY_FX", "VERTEBRAL_FX"}),
    "Z87.310": frozenset({"FRAGILITY_FX"}),
    "M85.80": frozenset({"OSTEOPENIA"}),
    "N18.6": frozenset({"CKD", "DIALYSIS"}),
    "N18.4": frozenset({"CKD"}),
    "N18.32": frozenset({"CKD"}),
    "N18.31": frozenset({"CKD"}),
    "Z99.2": frozenset({"DIALYSIS"}),
    "C61": frozenset(),
    "C73": frozenset({"THYROID_CANCER"}),
    "C50.911": frozenset(),
    "Z98.84": frozenset({"GI_SURGERY", "MALABSORPTION"}),
    "K90.0": frozenset({"CELIAC", "MALABSORPTION"}),
    "K50.90": frozenset({"IBD", "MALABSORPTION"}),
    "E24.9": frozenset({"CUSHING"}),
    "E05.90": frozenset({"HYPERTHYROID"}),
    "E10.9": frozenset({"T1DM"}),
    "F50.00": frozenset({"ANOREXIA"}),
    "E29.1": frozenset({"HYPOGONADISM"}),
    "N20.0": frozenset({"NEPHROLITHIASIS"}),
    "Z87.442": frozenset({"NEPHROLITHIASIS"}),
    "N95.1": frozenset({"MENOPAUSE"}),
    "M48.50XA": frozenset({"VERTEBRAL_FX"}),
    "M45.9": frozenset({"AS"}),
    "C90.00": frozenset({"MYELOMA"}),
    "N18.5": frozenset({"CKD"}),
}
CKD_STAGES = {"N18.31": "G3a", "N18.32": "G3b", "N18.4": "G4", "N18.5": "G5"}

_OP = {"OP_THERAPY"}
_PTH_RAISING = {"PTH_RAISING_DRUGS"}
# ingredient → (classes, prednisone-equivalent factor)
INGREDIENTS: dict[str, tuple[frozenset[str], float | None]] = {
    "prednisone": (frozenset({"GC"}), 1.0),
    "prednisolone": (frozenset({"GC"}), 1.0),
    "methylprednisolone": (frozenset({"GC"}), 1.25),
    "dexamethasone": (frozenset({"GC"}), 6.67),
    "hydrocortisone": (frozenset({"GC"}), 0.25),
    "budesonide": (frozenset({"GC"}), None),
    "fludrocortisone": (frozenset({"MINERALOCORTICOID"}), None),
    "deflazacort": (frozenset({"GC"}), 0.83),
    "exemestane": (frozenset({"AI"}), None),
    "degarelix": (frozenset({"GNRH"}), None),
    "anastrozole": (frozenset({"AI"}), None),
    "letrozole": (frozenset({"AI"}), None),
    "leuprolide": (frozenset({"GNRH"}), None),
    "goserelin": (frozenset({"GNRH"}), None),
    "bicalutamide": (frozenset({"ANTIANDROGEN"}), None),
    "omeprazole": (frozenset({"PPI"}), None),
    "levothyroxine": (frozenset({"THYROID_HORMONE"}), None),
    "hydrochlorothiazide": (frozenset({"THIAZIDE"} | _PTH_RAISING), None),
    "chlorthalidone": (frozenset({"THIAZIDE"} | _PTH_RAISING), None),
    "lithium carbonate": (frozenset({"LITHIUM"} | _PTH_RAISING), None),
    "furosemide": (frozenset({"LOOP"} | _PTH_RAISING), None),
    "phenytoin": (frozenset({"AED", "AED_INDUCER"} | _PTH_RAISING), None),
    "valproate": (frozenset({"AED"}), None),
    "alendronate": (frozenset({"BP", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "risedronate": (frozenset({"BP", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "ibandronate": (frozenset({"BP", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "zoledronic acid": (frozenset({"BP", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "pamidronate": (frozenset({"BP", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "denosumab": (frozenset({"DENOSUMAB", "ANTIRESORPTIVE_ORDER"} | _OP | _PTH_RAISING), None),
    "teriparatide": (frozenset({"ANABOLIC"} | _OP), None),
    "romosozumab": (frozenset({"SCLEROSTIN"} | _OP), None),
    "raloxifene": (frozenset({"SERM"} | _OP), None),
    "cinacalcet": (frozenset({"CALCIMIMETIC"}), None),
    "calcitriol": (frozenset({"ACTIVE_VITD"}), None),
    "cholecalciferol": (frozenset({"VITD_TX"}), None),
    "ergocalciferol": (frozenset({"VITD_TX"}), None),
}

SYSTEMIC_ROUTES = {"oral", "intravenous", "intramuscular", "subcutaneous"}


@dataclass
class LabSpec:
    name: str
    value: float
    unit: str
    at: datetime
    status: str = "final"
    comparator: str | None = None
    ref: tuple[float | None, float | None] | None = None
    report: str | None = None
    id: str = ""


@dataclass
class DxaSpec:
    kind: str
    site: str
    value: float
    at: datetime
    id: str = ""


@dataclass
class MedSpec:
    ingredient: str
    start: datetime
    status: str = "active"
    dose_mg: float | None = None
    per_day: float = 1.0
    route: str | None = "oral"
    draft: bool = False
    planned_days: float | None = None
    end: datetime | None = None
    source: str = "request"
    intent: str = "order"
    id: str = ""


@dataclass
class ConditionSpec:
    code: str
    active: bool = True
    system: str = "icd10"
    id: str = ""


@dataclass
class PatientBuilder:
    age: int | None = 60
    sex: str = "female"
    at: datetime = T
    birth_date: date | None = None
    deceased: bool = False
    id: str = "p1"
    labs: list[LabSpec] = field(default_factory=list)
    dxas: list[DxaSpec] = field(default_factory=list)
    meds: list[MedSpec] = field(default_factory=list)
    conditions: list[ConditionSpec] = field(default_factory=list)
    procedures: list[tuple[str, datetime, str]] = field(default_factory=list)
    _n: int = 0

    def _next_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def when(self, days_ago: float = 0, hours_ago: float = 0) -> datetime:
        return self.at - timedelta(days=days_ago, hours=hours_ago)

    @property
    def born(self) -> date | None:
        if self.birth_date is not None:
            return self.birth_date
        if self.age is None:
            return None
        # Birthday half a year away from T, so the age is unambiguous.
        return date(self.at.year - self.age, self.at.month, 1) - timedelta(days=180)

    # ---- fluent additions ---------------------------------------------------------------
    def lab(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        days_ago: float = 0,
        hours_ago: float = 0,
        status: str = "final",
        comparator: str | None = None,
        ref: tuple[float | None, float | None] | None = None,
        report: str | None = None,
    ) -> PatientBuilder:
        if name not in LABS:
            raise KeyError(f"unknown lab short name {name!r}")
        self.labs.append(
            LabSpec(
                name, value, unit, self.when(days_ago, hours_ago), status, comparator, ref,
                report, self._next_id("obs"),
            )
        )  # fmt: skip
        return self

    def dxa(self, kind: str, site: str, value: float, *, days_ago: float) -> PatientBuilder:
        self.dxas.append(DxaSpec(kind, site, value, self.when(days_ago), self._next_id("dxa")))
        return self

    def med(
        self,
        ingredient: str,
        *,
        since_days: float = 0,
        status: str = "active",
        dose_mg: float | None = None,
        per_day: float = 1.0,
        route: str | None = "oral",
        draft: bool = False,
        planned_days: float | None = None,
        ended_days_ago: float | None = None,
        source: str = "request",
        intent: str = "order",
    ) -> PatientBuilder:
        if ingredient not in INGREDIENTS:
            raise KeyError(f"unknown ingredient {ingredient!r}")
        end = None if ended_days_ago is None else self.when(ended_days_ago)
        self.meds.append(
            MedSpec(
                ingredient, self.when(since_days), "draft" if draft else status, dose_mg,
                per_day, route, draft, planned_days, end, source, intent, self._next_id("med"),
            )
        )  # fmt: skip
        return self

    def condition(self, code: str, *, active: bool = True) -> PatientBuilder:
        if code not in CONDITION_SETS:
            raise KeyError(f"unknown condition code {code!r}")
        self.conditions.append(ConditionSpec(code, active, "icd10", self._next_id("cond")))
        return self

    def dxa_procedure(self, *, days_ago: float) -> PatientBuilder:
        self.procedures.append(("312681000", self.when(days_ago), self._next_id("proc")))
        return self

    # ---- the direct path -----------------------------------------------------------------
    def snapshot(
        self, hook: Hook | str = Hook.PATIENT_VIEW, selections: frozenset[str] | None = None
    ) -> PatientSnapshot:
        labs: list[LabResult] = []
        for spec in self.labs:
            analyte, code, _ = LABS[spec.name]
            if analyte is None or spec.status not in ("final", "amended", "corrected"):
                continue
            table = TABLES[analyte]
            reported = apply_comparator(spec.value, spec.comparator)
            value = to_canonical(table, reported, spec.unit, spec.unit)
            if value is None or not is_plausible(table, value):
                continue
            low = high = None
            if spec.ref is not None:
                lo, hi = spec.ref
                low = None if lo is None else to_canonical(table, lo, spec.unit, spec.unit)
                high = None if hi is None else to_canonical(table, hi, spec.unit, spec.unit)
            labs.append(
                LabResult(
                    reference=f"Observation/{spec.id}", analyte=analyte, code=code, value=value,
                    unit=table.canonical, reported_value=spec.value, reported_unit=spec.unit,
                    effective=spec.at, status=spec.status, comparator=spec.comparator,
                    ref_low=low, ref_high=high,
                    report=None if spec.report is None else f"DiagnosticReport/{spec.report}",
                    rank=EGFR_RANKS.get(code, 0),
                )
            )  # fmt: skip
        scores = tuple(
            DxaScore(
                reference=f"Observation/{d.id}", kind=d.kind, site=DxaSite(d.site),
                value=d.value, effective=d.at, code=DXA_CODES[(d.kind, d.site)],
                reported_unit="1",
            )
            for d in self.dxas
            if SCORE.low <= d.value <= SCORE.high
        )  # fmt: skip
        events = tuple(DxaEvent(s.reference, s.effective, "score") for s in scores) + tuple(
            DxaEvent(f"Procedure/{pid}", when, "procedure") for _, when, pid in self.procedures
        )
        meds = [self._exposure(m) for m in self.meds]
        return PatientSnapshot(
            patient=f"Patient/{self.id}",
            at=self.at,
            hook=Hook(hook),
            birth_date=self.born,
            sex=self.sex,
            deceased=self.deceased,
            labs=tuple(labs),
            dxa_scores=scores,
            dxa_events=events,
            medications=tuple(m for m in meds if not m.is_draft),
            draft_orders=tuple(m for m in meds if m.is_draft),
            selections=selections,
            conditions=tuple(
                ConditionRecord(
                    reference=f"Condition/{c.id}",
                    sets=CONDITION_SETS[c.code],
                    active=c.active,
                    codes=(c.code,),
                    display=c.code,
                    ckd_stage=CKD_STAGES.get(c.code),
                )
                for c in self.conditions
            ),
            procedures=tuple(
                ProcedureRecord(f"Procedure/{pid}", frozenset({"DXA"}), when, "Bone density scan")
                for _, when, pid in self.procedures
            ),
        )

    def _exposure(self, m: MedSpec) -> MedicationExposure:
        classes, pe = INGREDIENTS[m.ingredient]
        route = None if m.route is None else ("systemic" if m.route in SYSTEMIC_ROUTES else "non-systemic")
        daily = None if m.dose_mg is None else m.dose_mg * m.per_day
        end = m.end
        if end is None and m.status in ("completed", "stopped"):
            end = m.start
        source = {
            "request": "request",
            "statement": "statement",
            "administration": "administration",
        }[m.source]
        return MedicationExposure(
            reference=f"{_RESOURCE[source]}/{m.id}",
            source=source,
            status=m.status,
            display=m.ingredient,
            ingredients=frozenset({m.ingredient}),
            classes=classes,
            start=m.start,
            end=end,
            is_order=m.intent
            in ("order", "original-order", "reflex-order", "filler-order", "instance-order"),
            is_draft=m.draft,
            route=route,
            daily_dose_mg=daily,
            pe_factor=pe,
            planned_days=m.planned_days,
        )

    def but(self, **changes: Any) -> PatientBuilder:
        return replace(self, **changes)


_RESOURCE = {
    "request": "MedicationRequest",
    "statement": "MedicationStatement",
    "administration": "MedicationAdministration",
}


def a_patient(
    age: int | None = 60, sex: str = "female", *, at: datetime = T, **kwargs: Any
) -> PatientBuilder:
    return PatientBuilder(age=age, sex=sex, at=at, **kwargs)

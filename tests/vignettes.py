"""The 45 worked vignettes of RULES.md section 9, one to one, as data.

Each entry is: id, hook, title (the row's bold text), a builder of the patient, the **complete**
MUST-fire set {rule id: indicator} (every other rule MUST NOT fire), the row's "Notable MUST NOT
fire" ids, and for order-select the selected draft orders. The same table drives three checks
(tests/test_vignettes.py: direct snapshot, FHIR Bundle through the adapter, the CLI) and the sample
bundles shipped in service/samples (tests/test_samples.py keeps them in step).

Conventions of section 9 encoded here: T = tests.builders.T; `dN` = N days before T; ages are at T;
units as reported, with the molar LOINC code when the unit is molar; eGFR is LOINC 98979-8 in
mL/min/{1.73_m2}; every Observation is `final` unless the row marks it; medications without "draft
order" are active, oral MedicationRequests authored on the day given. Where a row gives no dose the
dose is left unset (no rule of these rows needs it); draft orders of injectables carry their usual
route (route only matters for glucocorticoids).

Regenerate the samples with `python -m tests.vignettes --write-samples`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from rules.snapshot import Hook, PatientSnapshot
from tests.builders import PatientBuilder, T, a_patient
from tests.fhir_bundles import iso, to_bundle

Level = Literal["info", "warning", "critical"]
Build = Callable[[], PatientBuilder]

PV, SELECT, SIGN = Hook.PATIENT_VIEW, Hook.ORDER_SELECT, Hook.ORDER_SIGN
GFR = "mL/min/{1.73_m2}"
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "service" / "samples"


@dataclass(frozen=True, slots=True)
class Vignette:
    id: str
    hook: Hook
    title: str
    builder: Build  # a fresh PatientBuilder each call (builders are mutable)
    must_fire: Mapping[str, Level]
    must_not_fire: tuple[str, ...] = ()
    selections: tuple[str, ...] | None = None  # order-select only: "MedicationRequest/<id>"

    @property
    def expected(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.must_fire.items())

    @property
    def selection_set(self) -> frozenset[str] | None:
        return None if self.selections is None else frozenset(self.selections)

    def snapshot(self) -> PatientSnapshot:
        return self.builder().snapshot(self.hook, self.selection_set)

    def bundle(self) -> dict[str, Any]:
        return to_bundle(self.builder(), vignette=(self.id, self.title))


VIGNETTES: list[Vignette] = []


def vignette(
    vid: str,
    hook: Hook,
    title: str,
    fire: Mapping[str, Level],
    not_fire: Sequence[str],
    selections: tuple[str, ...] | None = None,
) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        VIGNETTES.append(Vignette(vid, hook, title, build, fire, tuple(not_fire), selections))
        return build

    return register


def draw(p: PatientBuilder, days_ago: float, **labs: tuple[float, str]) -> PatientBuilder:
    """One blood draw: `draw(p, 10, CA=(11.2, "mg/dL"), ALB=(4.1, "g/dL"))` (builder short names)."""
    for name, (value, unit) in labs.items():
        p.lab(name, value, unit, days_ago=days_ago)
    return p


def scan(p: PatientBuilder, days_ago: float, **scores: float) -> PatientBuilder:
    """One DXA: `scan(p, 200, T_LS=-1.8, Z_TH=-1.5)`; RAD is the distal 1/3 radius (1/3R)."""
    for key, value in scores.items():
        kind, site = key.split("_")
        p.dxa(kind, site, value, days_ago=days_ago)
    return p


# ---- Group A: calcium and parathyroid -------------------------------------------------------
@vignette("V01", PV, "Classic PTH-dependent hypercalcaemia, no PHPT diagnosis yet.",
          {"phpt-suspected": "warning"},
          ["phpt-surgical-criteria", "hypercalcemia-pth-missing", "vitd-deficiency",
           "osteoporosis-screening-due"])  # fmt: skip
def v01() -> PatientBuilder:
    p = a_patient(62, "female", id="v01")
    draw(p, 10, CA=(11.2, "mg/dL"), ALB=(4.1, "g/dL"), PTH=(98, "pg/mL"), VITD=(32, "ng/mL"),
         EGFR=(85, GFR), PO4=(2.4, "mg/dL"))  # fmt: skip
    return scan(p, 200, T_LS=-1.8, T_TH=-1.2, T_FN=-1.5, T_RAD=-2.1)


@vignette("V02", PV, "Known PHPT meeting surgical criteria (Ca > ULN+1, hypercalciuria).",
          {"phpt-surgical-criteria": "warning"},
          ["phpt-suspected", "low-bmd-secondary-workup", "osteoporosis-untreated"])  # fmt: skip
def v02() -> PatientBuilder:
    p = a_patient(58, "female", id="v02")
    draw(p, 20, CA=(11.6, "mg/dL"), ALB=(4, "g/dL"), PTH=(120, "pg/mL"), EGFR=(72, GFR),
         VITD=(34, "ng/mL"), PO4=(2.3, "mg/dL"))  # fmt: skip
    draw(p, 100, UCA24=(310, "mg/24h"))
    scan(p, 300, T_LS=-1.7, T_TH=-1.4, T_FN=-1.6, T_RAD=-1.9)
    return p.condition("E21.0")


@vignette("V03", PV, "Known PHPT, mild, evaluation incomplete (no DXA, no 24-h urine).",
          {"phpt-surgical-criteria": "info"},
          ["phpt-suspected", "osteoporosis-screening-due"])  # fmt: skip
def v03() -> PatientBuilder:
    p = a_patient(67, "female", id="v03")
    draw(p, 30, CA=(10.6, "mg/dL"), ALB=(4, "g/dL"), PTH=(80, "pg/mL"), EGFR=(75, GFR),
         VITD=(35, "ng/mL"), PO4=(2.6, "mg/dL"))  # fmt: skip
    return p.condition("E21.0")


@vignette("V04", PV, "Hypercalcaemia, PTH never measured (missing-data path).",
          {"hypercalcemia-pth-missing": "warning"},
          ["phpt-suspected", "pth-independent-hypercalcemia", "hypercalcemia-severe"])  # fmt: skip
def v04() -> PatientBuilder:
    return draw(a_patient(55, "male", id="v04"), 5, CA=(10.9, "mg/dL"), ALB=(4.2, "g/dL"))


@vignette("V05", PV, "SI units: Ca mmol/L, albumin g/L, PTH pmol/L, 25-OH D nmol/L.",
          {"phpt-suspected": "warning"},
          ["vitd-deficiency", "hypercalcemia-pth-missing"])  # fmt: skip
def v05() -> PatientBuilder:
    # Molar units carry the molar LOINC codes (2000-8, 14866-8, 68438-1); albumin g/L stays 1751-7.
    return draw(a_patient(60, "female", id="v05"), 7, CA_MOL=(2.75, "mmol/L"), ALB=(38, "g/L"),
                PTH_MOL=(9.8, "pmol/L"), VITD_MOL=(70, "nmol/L"), EGFR=(80, GFR))  # fmt: skip


@vignette("V06", PV, "Low albumin unmasks hypercalcaemia; PTH suppressed.",
          {"pth-independent-hypercalcemia": "warning"},
          ["phpt-suspected", "hypercalcemia-pth-missing", "osteoporosis-screening-due"])  # fmt: skip
def v06() -> PatientBuilder:
    p = a_patient(70, "female", id="v06")
    draw(p, 3, CA=(10.1, "mg/dL"), ALB=(2.9, "g/dL"), PTH=(8, "pg/mL"), VITD=(45, "ng/mL"),
         EGFR=(70, GFR))  # fmt: skip
    return scan(p, 500, T_LS=-1.4, T_TH=-1.1)


@vignette("V07", PV, "Low total Ca explained by low albumin (corrected Ca normal).",
          {}, ["hypocalcemia", "hypopara-suspected"])  # fmt: skip
def v07() -> PatientBuilder:
    return draw(a_patient(72, "male", id="v07"), 2, CA=(7.9, "mg/dL"), ALB=(2.5, "g/dL"))


@vignette("V08", PV, "Low total Ca, albumin not measured.",
          {"hypocalcemia": "info"}, ["hypopara-suspected"])  # fmt: skip
def v08() -> PatientBuilder:
    return draw(a_patient(45, "female", id="v08"), 1, CA=(7.8, "mg/dL"))


@vignette("V09", PV, "Post-thyroidectomy hypoparathyroidism, severe hypocalcaemia.",
          {"hypocalcemia": "critical", "hypopara-suspected": "warning"},
          ["hypomagnesemia", "secondary-hpt", "tsh-suppressed-bone-risk"])  # fmt: skip
def v09() -> PatientBuilder:
    p = a_patient(52, "female", id="v09")
    draw(p, 3, CA=(7.4, "mg/dL"), ALB=(4, "g/dL"), PTH=(6, "pg/mL"), MG=(1.9, "mg/dL"),
         PO4=(5.1, "mg/dL"))  # fmt: skip
    return p.med("levothyroxine", since_days=40).condition("E89.0")


@vignette("V10", PV, "PPI-associated hypomagnesaemia with low PTH (functional, not hypopara).",
          {"hypocalcemia": "warning", "hypomagnesemia": "critical"},
          ["hypopara-suspected"])  # fmt: skip
def v10() -> PatientBuilder:
    p = a_patient(68, "male", id="v10")
    draw(p, 2, CA=(7.9, "mg/dL"), ALB=(3.9, "g/dL"), PTH=(12, "pg/mL"), MG=(0.9, "mg/dL"))
    return p.med("omeprazole", since_days=800, dose_mg=40)


@vignette("V11", PV,
          "Vitamin-D-deficient, normocalcaemic, raised PTH x2 (must NOT be called NPHPT).",
          {"secondary-hpt": "info", "vitd-deficiency": "warning"},
          ["normocalcemic-phpt-possible", "phpt-suspected"])  # fmt: skip
def v11() -> PatientBuilder:
    p = a_patient(59, "female", id="v11")
    draw(p, 15, CA=(9.3, "mg/dL"), ALB=(4.1, "g/dL"), PTH=(88, "pg/mL"), VITD=(11, "ng/mL"),
         EGFR=(88, GFR))  # fmt: skip
    return draw(p, 120, PTH=(92, "pg/mL"), CA=(9.4, "mg/dL"), ALB=(4, "g/dL"))


@vignette("V12", PV, "Normocalcaemic PHPT possible: all secondary causes excluded.",
          {"normocalcemic-phpt-possible": "info"},
          ["secondary-hpt", "phpt-suspected", "vitd-deficiency"])  # fmt: skip
def v12() -> PatientBuilder:
    p = a_patient(61, "female", id="v12")
    draw(p, 10, CA=(9.8, "mg/dL"), ALB=(4.2, "g/dL"), ICA=(1.27, "mmol/L"), PTH=(85, "pg/mL"),
         VITD=(38, "ng/mL"), EGFR=(82, GFR))  # fmt: skip
    return draw(p, 130, PTH=(79, "pg/mL"), CA=(9.9, "mg/dL"), ALB=(4.1, "g/dL"))


@vignette("V13", PV, "CKD G3b with secondary HPT and vitamin D insufficiency.",
          {"secondary-hpt": "info", "vitd-deficiency": "info"},
          ["normocalcemic-phpt-possible", "ckd-mbd-monitoring-due",
           "bone-risk-condition-dxa-due"])  # fmt: skip
def v13() -> PatientBuilder:
    p = a_patient(74, "male", id="v13")
    draw(p, 20, EGFR=(38, GFR), CA=(9, "mg/dL"), ALB=(3.8, "g/dL"), PO4=(4.2, "mg/dL"),
         PTH=(140, "pg/mL"), VITD=(26, "ng/mL"))  # fmt: skip
    draw(p, 200, EGFR=(41, GFR))
    return scan(p, 400, T_LS=-1.6, T_TH=-1.3)


@vignette("V14", PV, "Hypercalcaemia on hydrochlorothiazide with non-suppressed PTH.",
          {"drug-associated-hypercalcemia": "warning"},
          ["phpt-suspected", "hypercalcemia-pth-missing"])  # fmt: skip
def v14() -> PatientBuilder:
    p = a_patient(66, "female", id="v14")
    draw(p, 12, CA=(10.8, "mg/dL"), ALB=(4, "g/dL"), PTH=(58, "pg/mL"), VITD=(40, "ng/mL"),
         EGFR=(75, GFR))  # fmt: skip
    scan(p, 300, T_LS=-1.2)
    return p.med("hydrochlorothiazide", since_days=400, dose_mg=25)


@vignette("V15", PV, "Severe hypercalcaemia with suppressed PTH.",
          {"hypercalcemia-severe": "critical", "pth-independent-hypercalcemia": "warning"},
          ["phpt-suspected", "hypercalcemia-pth-missing"])  # fmt: skip
def v15() -> PatientBuilder:
    return draw(a_patient(71, "male", id="v15"), 1, CA=(14.6, "mg/dL"), ALB=(3.6, "g/dL"),
                PTH=(5, "pg/mL"))  # fmt: skip


@vignette("V16", PV, "High Ca result entered-in-error; older valid Ca normal.",
          {}, ["hypercalcemia-pth-missing", "phpt-suspected"])  # fmt: skip
def v16() -> PatientBuilder:
    p = a_patient(55, "female", id="v16").lab("CA", 11.5, "mg/dL", days_ago=4, status="entered-in-error")
    return draw(p, 30, CA=(9.6, "mg/dL"), ALB=(4.1, "g/dL"))


@vignette("V17", PV, "Hypercalcaemia; the only PTH is preliminary.",
          {"hypercalcemia-pth-missing": "warning"}, ["phpt-suspected"])  # fmt: skip
def v17() -> PatientBuilder:
    p = draw(a_patient(60, "male", id="v17"), 2, CA=(10.9, "mg/dL"), ALB=(4, "g/dL"))
    return p.lab("PTH", 75, "pg/mL", days_ago=2, status="preliminary")


@vignette("V18", PV, "High Ca only 200 days ago (outside 90-day window).",
          {}, ["hypercalcemia-pth-missing"])  # fmt: skip
def v18() -> PatientBuilder:
    return draw(a_patient(57, "female", id="v18"), 200, CA=(11, "mg/dL"), ALB=(4, "g/dL"))


# ---- Group C: medications and order hooks ---------------------------------------------------
@vignette("V19", SIGN, "order-sign: prednisone 10 mg/d for 90 days, RA, no DXA.",
          {"gio-bone-assessment-due": "warning"}, ["bone-risk-condition-dxa-due"])  # fmt: skip
def v19() -> PatientBuilder:
    p = a_patient(45, "female", id="v19")
    # Planned 90 d = dispenseRequest.expectedSupplyDuration 90 d with no repeats.
    p.med("prednisone", dose_mg=10, draft=True, planned_days=90)
    return p.condition("M06.9")


@vignette("V20", PV,
          "patient-view: dexamethasone 0.5 mg/d for 120 days (3.3 mg PE), no DXA.",
          {"gio-bone-assessment-due": "info"}, ["osteoporosis-screening-due"])  # fmt: skip
def v20() -> PatientBuilder:
    return a_patient(58, "male", id="v20").med("dexamethasone", since_days=120, dose_mg=0.5)


@vignette("V21", PV, "Inhaled budesonide + prednisone 2 mg/d (below 2.5 mg PE).",
          {}, ["gio-bone-assessment-due"])  # fmt: skip
def v21() -> PatientBuilder:
    p = a_patient(52, "male", id="v21")
    p.med("budesonide", since_days=300, dose_mg=0.8, route="inhalation")
    return p.med("prednisone", since_days=200, dose_mg=2)


@vignette("V22", SELECT, "order-select: anastrozole, last DXA 1000 days ago.",
          {"ai-adt-bone-assessment-due": "warning"}, ["osteoporosis-screening-due"],
          selections=("MedicationRequest/med2",))  # fmt: skip
def v22() -> PatientBuilder:
    p = scan(a_patient(63, "female", id="v22"), 1000, T_LS=-1.3)
    return p.med("anastrozole", dose_mg=1, draft=True)  # → med2, the selection


@vignette("V23", SIGN,
          "order-sign: denosumab in hypocalcaemic CKD G4 patient with low 25-OH D.",
          {"antiresorptive-hypocalcemia-risk": "critical"},
          ["low-bmd-secondary-workup"])  # fmt: skip
def v23() -> PatientBuilder:
    p = a_patient(78, "female", id="v23")
    draw(p, 10, CA=(8.1, "mg/dL"), ALB=(3.9, "g/dL"), EGFR=(24, GFR), VITD=(16, "ng/mL"),
         PO4=(3.9, "mg/dL"))  # fmt: skip
    return p.med("denosumab", draft=True, route="subcutaneous").condition("M81.0")


@vignette("V24", SIGN, "order-sign: zoledronic acid with eGFR 32.",
          {"antiresorptive-hypocalcemia-risk": "critical"},
          ["low-bmd-secondary-workup"])  # fmt: skip
def v24() -> PatientBuilder:
    p = a_patient(70, "male", id="v24")
    draw(p, 20, EGFR=(32, GFR), CA=(9.4, "mg/dL"), ALB=(4, "g/dL"), VITD=(35, "ng/mL"),
         PO4=(3.1, "mg/dL"))  # fmt: skip
    return p.med("zoledronic acid", draft=True, route="intravenous").condition("M81.0")


@vignette("V25", SELECT,
          "order-select: alendronate, complete normal work-up (negative control).",
          {}, ["antiresorptive-hypocalcemia-risk", "low-bmd-secondary-workup"],
          selections=("MedicationRequest/med7",))  # fmt: skip
def v25() -> PatientBuilder:
    p = a_patient(66, "female", id="v25")
    draw(p, 30, CA=(9.5, "mg/dL"), ALB=(4.2, "g/dL"), EGFR=(70, GFR), VITD=(34, "ng/mL"),
         PO4=(3.4, "mg/dL"))  # fmt: skip
    scan(p, 40, T_LS=-2.7)
    return p.med("alendronate", draft=True)  # → med7, the selection


@vignette("V26", PV, "Premenopausal woman, Z-score -2.4 (T-score must not be used).",
          {"low-z-score": "warning"},
          ["low-bmd-secondary-workup", "osteoporosis-untreated"])  # fmt: skip
def v26() -> PatientBuilder:
    return scan(a_patient(38, "female", id="v26"), 20, Z_LS=-2.4, T_LS=-2.6, Z_TH=-1.5)


@vignette("V27", PV, "On alendronate 4 y, last DXA 900 days ago.",
          {"dxa-monitoring-due": "info"},
          ["osteoporosis-untreated", "low-bmd-secondary-workup"])  # fmt: skip
def v27() -> PatientBuilder:
    p = a_patient(72, "female", id="v27")
    draw(p, 100, CA=(9.4, "mg/dL"), ALB=(4, "g/dL"), PO4=(3.3, "mg/dL"), EGFR=(65, GFR),
         VITD=(36, "ng/mL"))  # fmt: skip
    scan(p, 900, T_LS=-2.6)
    return p.med("alendronate", since_days=1500, dose_mg=10)


@vignette("V28", PV, "Woman 67, never screened.",
          {"osteoporosis-screening-due": "info"}, ["bone-risk-condition-dxa-due"])  # fmt: skip
def v28() -> PatientBuilder:
    return a_patient(67, "female", id="v28")


@vignette("V29", PV, "Man 70, never screened (USPSTF I statement: no card).",
          {}, ["osteoporosis-screening-due"])  # fmt: skip
def v29() -> PatientBuilder:
    return a_patient(70, "male", id="v29")


@vignette("V30", PV, "TSH 0.05 on levothyroxine, woman 70.",
          {"tsh-suppressed-bone-risk": "info"}, ["osteoporosis-screening-due"])  # fmt: skip
def v30() -> PatientBuilder:
    p = scan(draw(a_patient(70, "female", id="v30"), 20, TSH=(0.05, "mIU/L")), 300, T_LS=-1.9)
    return p.med("levothyroxine", since_days=2000, dose_mg=0.15)


@vignette("V31", PV, "Leuprolide for prostate cancer, no DXA.",
          {"ai-adt-bone-assessment-due": "info"},
          ["bone-risk-condition-dxa-due", "osteoporosis-screening-due"])  # fmt: skip
def v31() -> PatientBuilder:
    # Section 9 makes every non-draft medication oral; route does not matter to C5.
    return a_patient(69, "male", id="v31").med("leuprolide", since_days=200).condition("C61")


# ---- Mixed: CKD, vitamin D, special units and statuses --------------------------------------
@vignette("V32", PV, "CKD G4, Ca/phosphate 250 days old, PTH never.",
          {"ckd-mbd-monitoring-due": "info"},
          ["bone-risk-condition-dxa-due", "secondary-hpt"])  # fmt: skip
def v32() -> PatientBuilder:
    p = draw(a_patient(63, "female", id="v32"), 30, EGFR=(22, GFR))
    draw(p, 150, EGFR=(25, GFR))
    draw(p, 250, CA=(9.1, "mg/dL"), ALB=(3.9, "g/dL"), PO4=(4.4, "mg/dL"), VITD=(33, "ng/mL"))
    return scan(p, 500, T_LS=-1.5)


@vignette("V33", PV, "After bariatric surgery: low 25-OH D, raised PTH, no DXA.",
          {"secondary-hpt": "info", "vitd-deficiency": "info",
           "bone-risk-condition-dxa-due": "info"},
          ["normocalcemic-phpt-possible"])  # fmt: skip
def v33() -> PatientBuilder:
    p = a_patient(44, "female", id="v33")
    draw(p, 30, VITD=(17, "ng/mL"), PTH=(95, "pg/mL"), CA=(9, "mg/dL"), ALB=(3.9, "g/dL"),
         EGFR=(95, GFR))  # fmt: skip
    return p.condition("Z98.84")


@vignette("V34", PV, "Lithium with hypercalcaemia and raised PTH.",
          {"drug-associated-hypercalcemia": "warning"}, ["phpt-suspected"])  # fmt: skip
def v34() -> PatientBuilder:
    p = a_patient(50, "male", id="v34")
    draw(p, 8, CA=(10.7, "mg/dL"), ALB=(4.3, "g/dL"), PTH=(71, "pg/mL"))
    return p.med("lithium carbonate", since_days=3000, dose_mg=900)


@vignette("V35", PV, "Vitamin D intoxication: 25-OH D 180, hypercalcaemia, PTH suppressed.",
          {"pth-independent-hypercalcemia": "warning", "vitd-excess": "warning"},
          ["phpt-suspected", "hypercalcemia-severe"])  # fmt: skip
def v35() -> PatientBuilder:
    p = a_patient(54, "female", id="v35")
    draw(p, 5, VITD=(180, "ng/mL"), CA=(11.3, "mg/dL"), ALB=(4, "g/dL"), PTH=(9, "pg/mL"))
    return p.med("cholecalciferol", since_days=200)


@vignette("V36", PV, "25-OH D3 in nmol/L (40 = 16 ng/mL); 1,25(OH)2D must be ignored.",
          {"vitd-deficiency": "info"}, ["vitd-excess"])  # fmt: skip
def v36() -> PatientBuilder:
    # 25-OH D3 molar code 14635-7; 1,25(OH)2D is LOINC 62290-2, never a 25-OH D code.
    return draw(a_patient(50, "female", id="v36"), 10, VITD3_MOL=(40, "nmol/L"),
                CALCITRIOL=(20, "pg/mL"))  # fmt: skip


@vignette("V37", PV, "Ionised Ca low while albumin-corrected total Ca looks normal.",
          {"hypocalcemia": "critical"}, ["hypopara-suspected"])  # fmt: skip
def v37() -> PatientBuilder:
    # "d−0 (12 h ago)": half a day before T.
    return draw(a_patient(64, "male", id="v37"), 0.5, ICA=(0.92, "mmol/L"), CA=(7.9, "mg/dL"),
                ALB=(2.4, "g/dL"))  # fmt: skip


def _dialysis(vid: str, pth: float) -> PatientBuilder:
    """V38/V39: the same dialysis patient, PTH 390 (6x ULN) or 720 (11x ULN)."""
    p = a_patient(66, "male", id=vid)
    draw(p, 20, EGFR=(9, GFR), PTH=(pth, "pg/mL"), CA=(9.2, "mg/dL"), ALB=(3.7, "g/dL"),
         PO4=(5.2, "mg/dL"))  # fmt: skip
    draw(p, 200, VITD=(31, "ng/mL"))
    scan(p, 600, T_LS=-1.8)
    return p.condition("N18.6").condition("Z99.2")


@vignette("V38", PV, "Dialysis, PTH 6x ULN, normal Ca (within KDIGO 2-9x target: no card).",
          {}, ["secondary-hpt", "ckd-mbd-monitoring-due"])  # fmt: skip
def v38() -> PatientBuilder:
    return _dialysis("v38", 390)


@vignette("V39", PV, "Dialysis, PTH 11x ULN (above KDIGO target).",
          {"secondary-hpt": "warning"},
          ["normocalcemic-phpt-possible", "ckd-mbd-monitoring-due"])  # fmt: skip
def v39() -> PatientBuilder:
    return _dialysis("v39", 720)


@vignette("V40", PV, "Raised PTH but no Ca measured near it.",
          {"secondary-hpt": "info"}, ["normocalcemic-phpt-possible"])  # fmt: skip
def v40() -> PatientBuilder:
    return draw(a_patient(48, "male", id="v40"), 40, PTH=(90, "pg/mL"), VITD=(35, "ng/mL"),
                EGFR=(90, GFR))  # fmt: skip


@vignette("V41", PV, "Vertebral osteoporotic fracture, untreated, work-up missing.",
          {"low-bmd-secondary-workup": "info", "osteoporosis-untreated": "warning"},
          ["osteoporosis-screening-due", "dxa-monitoring-due"])  # fmt: skip
def v41() -> PatientBuilder:
    return scan(a_patient(76, "female", id="v41"), 60, T_LS=-2.1, T_FN=-2.3).condition("M80.08XA")


@vignette("V42", PV, "Cushing syndrome age 35, no DXA.",
          {"bone-risk-condition-dxa-due": "info"}, ["osteoporosis-screening-due"])  # fmt: skip
def v42() -> PatientBuilder:
    return a_patient(35, "female", id="v42").condition("E24.9")


@vignette("V43", PV,
          "Intermittent hypercalcaemia: high Ca 200 d ago, now normal, PTH raised.",
          {"phpt-suspected": "warning"},
          ["normocalcemic-phpt-possible", "secondary-hpt", "hypercalcemia-pth-missing"])  # fmt: skip
def v43() -> PatientBuilder:
    p = a_patient(63, "female", id="v43")
    draw(p, 10, CA=(10, "mg/dL"), ALB=(4, "g/dL"), PTH=(95, "pg/mL"), VITD=(35, "ng/mL"),
         EGFR=(80, GFR))  # fmt: skip
    return draw(p, 200, CA=(10.9, "mg/dL"), ALB=(4, "g/dL"))


@vignette("V44", PV,
          "Oral budesonide 9 mg/d for 100 days (no validated prednisone equivalence).",
          {"gio-bone-assessment-due": "info"}, ["bone-risk-condition-dxa-due"])  # fmt: skip
def v44() -> PatientBuilder:
    p = a_patient(47, "male", id="v44").med("budesonide", since_days=100, dose_mg=9)
    return p.condition("K50.90")


@vignette("V45", SIGN, "order-sign: denosumab in dialysis patient with normal Ca.",
          {"antiresorptive-hypocalcemia-risk": "critical"},
          ["low-bmd-secondary-workup"])  # fmt: skip
def v45() -> PatientBuilder:
    p = a_patient(71, "female", id="v45")
    draw(p, 15, CA=(9.3, "mg/dL"), ALB=(3.8, "g/dL"), EGFR=(8, GFR), VITD=(32, "ng/mL"),
         PO4=(4.9, "mg/dL"))  # fmt: skip
    p.med("denosumab", draft=True, route="subcutaneous")
    return p.condition("N18.6").condition("Z99.2").condition("M81.0")


BY_ID: dict[str, Vignette] = {v.id: v for v in VIGNETTES}


# ---- sample bundles (service/samples) -------------------------------------------------------
def _dump(data: object) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def manifest_entry(v: Vignette) -> dict[str, Any]:
    return {
        "id": v.id,
        "file": f"{v.id}.json",
        "title": v.title,
        "hook": v.hook.value,
        "at": iso(T),
        "selections": list(v.selections or ()),
        "expected": sorted(v.must_fire),
        "expected_indicators": dict(sorted(v.must_fire.items())),
        "must_not_fire": list(v.must_not_fire),
    }


def render_samples() -> dict[str, bytes]:
    """File name → exact bytes of every sample bundle and of index.json (deterministic)."""
    files = {f"{v.id}.json": _dump(v.bundle()) for v in VIGNETTES}
    files["index.json"] = _dump(
        {
            "description": "RULES.md section 9 vignettes as FHIR R4 Bundles, evaluated at `at`. "
            "Generated by `python -m tests.vignettes --write-samples`; do not edit by hand.",
            "samples": [manifest_entry(v) for v in VIGNETTES],
        }
    )
    return files


def write_samples(folder: Path = SAMPLES_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_samples().items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.vignettes", description=__doc__)
    parser.add_argument("--write-samples", action="store_true", help="rewrite service/samples")
    parser.add_argument("--to", type=Path, default=SAMPLES_DIR, help="target folder")
    args = parser.parse_args(argv)
    if not args.write_samples:
        parser.print_help()
        return 2
    paths = write_samples(args.to)
    sys.stdout.write(f"wrote {len(paths)} files to {args.to}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

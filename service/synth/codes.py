"""Code tables of the synthetic generator: LOINC lab variants with their units, DXA codes, RxNorm
ingredients, routes, conditions and procedures (RULES.md 2.1-2.4), plus codes the rules never read.

Kept here, independently of the adapter's code-set files, so that a generated population checks
the adapter instead of echoing it. Every concept is built once, as the JSON object it is written as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
ARCHETYPE_SYSTEM = "urn:osteoalert:synth-archetype"


def concept(system: str, code: str, display: str) -> Json:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def category(code: str, display: str) -> list[Json]:
    system = "http://terminology.hl7.org/CodeSystem/observation-category"
    return [{"coding": [{"system": system, "code": code, "display": display}]}]


LAB_CATEGORY = category("laboratory", "Laboratory")
IMAGING_CATEGORY = category("imaging", "Imaging")
VITAL_CATEGORY = category("vital-signs", "Vital Signs")
VITALS: dict[str, Json] = {
    "weight": concept(LOINC, "29463-7", "Body weight"),
    "bmi": concept(LOINC, "39156-5", "Body mass index (BMI) [Ratio]"),
    "heart-rate": concept(LOINC, "8867-4", "Heart rate"),
    "bp": concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
    "systolic": concept(LOINC, "8480-6", "Systolic blood pressure"),
    "diastolic": concept(LOINC, "8462-4", "Diastolic blood pressure"),
}
_V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
REPORT_LAB = [{"coding": [{"system": _V2_0074, "code": "LAB", "display": "Laboratory"}]}]
REPORT_IMAGING = [{"coding": [{"system": _V2_0074, "code": "RAD", "display": "Radiology"}]}]
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION = {
    flag: [{"coding": [{"system": _INTERPRETATION, "code": flag, "display": display}]}]
    for flag, display in (("H", "High"), ("L", "Low"), ("N", "Normal"))
}


@dataclass(frozen=True, slots=True)
class LabVariant:
    """One way a lab reports an analyte: LOINC code, printed unit, UCUM code, decimals, and
    `factor` = reported value per canonical unit (RULES.md 3.1, inverted)."""

    code: Json
    unit: str
    ucum: str
    factor: float
    decimals: int
    range: tuple[float, float] | None = None  # a lab reference range, in the reported unit


def _variant(
    loinc: str, display: str, unit: str, ucum: str, factor: float, decimals: int,
    range_: tuple[float, float] | None = None,
) -> LabVariant:  # fmt: skip
    return LabVariant(concept(LOINC, loinc, display), unit, ucum, factor, decimals, range_)


_CA = "Calcium [Mass/volume] in Serum or Plasma"
_GFR = "mL/min/{1.73_m2}"
# Analyte short name → the variants a site may use, the first being the most common. Lab ranges
# are chosen inside the sanity bands of RULES.md 3.4 and close to the defaults, so an archetype's
# values stay on the intended side of both (calcium 8.5-10.5 against the default 8.6-10.2).
LABS: dict[str, tuple[LabVariant, ...]] = {
    "CA": (
        _variant("17861-6", _CA, "mg/dL", "mg/dL", 1.0, 1, (8.5, 10.5)),
        _variant("2000-8", "Calcium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L",
                 1 / 4.008, 2, (2.12, 2.62)),
        _variant("49765-1", "Calcium [Mass/volume] in Blood", "mg/dL", "mg/dL", 1.0, 1),
    ),
    "ICA": (
        _variant("1994-3", "Calcium.ionized [Moles/volume] in Blood", "mmol/L", "mmol/L", 1.0, 2,
                 (1.12, 1.32)),
        _variant("17863-2", "Calcium.ionized [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL",
                 4.008, 2),
    ),
    "ALB": (
        _variant("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", "g/dL", 1.0, 1,
                 (3.5, 5.0)),
        _variant("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/L", "g/L", 10.0, 0,
                 (35.0, 50.0)),
        _variant("61151-7", "Albumin [Mass/volume] in Serum or Plasma by Bromocresol green (BCG) "
                 "dye binding method", "g/dL", "g/dL", 1.0, 1),
    ),
    "PTH": (
        _variant("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma", "pg/mL", "pg/mL",
                 1.0, 0, (15.0, 65.0)),
        _variant("14866-8", "Parathyrin.intact [Moles/volume] in Serum or Plasma", "pmol/L",
                 "pmol/L", 1 / 9.43, 1, (1.6, 6.9)),
        _variant("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma", "ng/L", "ng/L",
                 1.0, 0),
    ),
    "VITD": (
        _variant("62292-8", "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or "
                 "Plasma", "ng/mL", "ng/mL", 1.0, 0),
        _variant("68438-1", "25-Hydroxyvitamin D2+D3 [Moles/volume] in Serum or Plasma", "nmol/L",
                 "nmol/L", 1 / 0.4006, 0),
        _variant("83070-3", "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or "
                 "Plasma by Immunoassay", "ng/mL", "ng/mL", 1.0, 0),
    ),
    "VITD3": (
        _variant("14635-7", "25-Hydroxyvitamin D3 [Moles/volume] in Serum or Plasma", "nmol/L",
                 "nmol/L", 1 / 0.4006, 0),
        _variant("1989-3", "25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma", "ng/mL",
                 "ng/mL", 1.0, 1),
    ),
    "PO4": (
        _variant("2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 1.0, 1,
                 (2.5, 4.5)),
        _variant("14879-1", "Phosphate [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L",
                 1 / 3.097, 2, (0.81, 1.45)),
    ),
    "MG": (
        _variant("19123-9", "Magnesium [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 1.0, 1,
                 (1.7, 2.2)),
        _variant("2601-3", "Magnesium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L",
                 1 / 2.431, 2, (0.70, 0.91)),
    ),
    "CREAT": (
        _variant("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 1.0, 2),
        _variant("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", "umol/L",
                 88.42, 0),
        _variant("38483-4", "Creatinine [Mass/volume] in Blood", "mg/dL", "mg/dL", 1.0, 2),
    ),
    "EGFR": (
        _variant("98979-8", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in "
                 "Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)", _GFR, _GFR,
                 1.0, 0),
        _variant("62238-1", "Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based "
                 "formula (CKD-EPI)", _GFR, _GFR, 1.0, 0),
        _variant("33914-3", "Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based "
                 "formula (MDRD)", _GFR, _GFR, 1.0, 0),
    ),
    "TSH": (
        _variant("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "mIU/L", "m[IU]/L", 1.0,
                 2, (0.4, 4.0)),
        _variant("11580-8", "Thyrotropin [Units/volume] in Serum or Plasma by Detection limit <= "
                 "0.005 mIU/L", "uIU/mL", "u[IU]/mL", 1.0, 3),
    ),
    "UCA24": (
        _variant("6874-2", "Calcium [Mass/time] in 24 hour Urine", "mg/24h", "mg/(24.h)", 1.0, 0),
        _variant("14637-3", "Calcium [Moles/time] in 24 hour Urine", "mmol/24h", "mmol/(24.h)",
                 1 / 40.08, 2),
    ),
    # 1,25-dihydroxyvitamin D: never a 25-OH D result (RULES.md 2.1), a trap for the adapter.
    "CALCITRIOL": (
        _variant("62290-2", "1,25-Dihydroxyvitamin D3 [Mass/volume] in Serum or Plasma", "pg/mL",
                 "pg/mL", 1.0, 0),
    ),
}  # fmt: skip

# Laboratory results the rules never read: (code, unit, UCUM, low, high, decimals).
OTHER_LABS: tuple[tuple[Json, str, str, float, float, int], ...] = tuple(
    (concept(LOINC, code, display), unit, ucum, low, high, decimals)
    for code, display, unit, ucum, low, high, decimals in (
        ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 72, 160, 0),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 11.5, 16.5, 1),
        ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 135, 145, 0),
        ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.5, 5.0, 1),
        ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 4.8, 8.5, 1),
        ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 140, 260, 0),
        ("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "U/L",
         "U/L", 40, 130, 0),
    )
)  # fmt: skip

# DXA (RULES.md 2.2): (kind, site) → code; BMD codes are evidence a DXA was done.
_DXA_SITE = {"LS": "Lumbar spine", "TH": "Hip", "FN": "Femur", "RAD": "Radius and Ulna"}
_DXA_CODES = {
    ("T", "LS"): "38267-1", ("T", "TH"): "38264-8", ("T", "FN"): "38263-0", ("T", "RAD"): "38265-5",
    ("Z", "LS"): "85394-5", ("Z", "TH"): "80933-5", ("Z", "FN"): "80934-3", ("Z", "RAD"): "80932-7",
}  # fmt: skip
DXA: dict[tuple[str, str], Json] = {
    key: concept(LOINC, code, f"DXA {_DXA_SITE[key[1]]} [{key[0]}-score] Bone density")
    for key, code in _DXA_CODES.items()
}
DXA_BMD_LS = concept(LOINC, "24966-4", "DXA Lumbar spine [Mass/Area] Bone density")
DXA_REPORT = concept(LOINC, "83311-1", "Bone density quantitative measurement by DXA panel")
DXA_PROCEDURES = (
    concept(SNOMED, "312681000", "Bone density scan"),
    concept(CPT, "77080", "DXA bone density study, axial skeleton"),
)
LAB_REPORTS = (
    concept(LOINC, "24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"),
    concept(LOINC, "51990-0", "Basic metabolic panel - Blood"),
)

# RxNorm ingredient RXCUIs of RULES.md 2.4 (and medications the rules never read).
RXCUI: dict[str, str] = {
    "prednisone": "8640", "prednisolone": "8638", "methylprednisolone": "6902",
    "dexamethasone": "3264", "budesonide": "19831", "hydrocortisone": "5492",
    "anastrozole": "84857", "letrozole": "72965", "exemestane": "258494",
    "leuprolide": "42375", "goserelin": "50610", "degarelix": "475230",
    "omeprazole": "7646", "pantoprazole": "40790", "esomeprazole": "283742",
    "levothyroxine": "10582", "hydrochlorothiazide": "5487", "chlorthalidone": "2409",
    "lithium carbonate": "42351", "alendronate": "46041", "risedronate": "73056",
    "zoledronic acid": "77655", "denosumab": "993449", "cholecalciferol": "2418",
    # never read by the rules
    "lisinopril": "29046", "atorvastatin": "83367", "metformin": "6809", "amlodipine": "17767",
    "sertraline": "36437", "simvastatin": "36567", "albuterol": "435",
}  # fmt: skip
DRUGS: dict[str, Json] = {name: concept(RXNORM, code, name) for name, code in RXCUI.items()}
ROUTES: dict[str, Json] = {
    "oral": concept(SNOMED, "26643006", "Oral route"),
    "inhaled": concept(SNOMED, "447694001", "Respiratory tract route"),
    "intravenous": concept(SNOMED, "47625008", "Intravenous route"),
    "subcutaneous": concept(SNOMED, "34206005", "Subcutaneous route"),
    "intramuscular": concept(SNOMED, "78421000", "Intramuscular route"),
}

# Conditions: code → display; ICD-10-CM, or SNOMED CT when the code is all digits.
CONDITIONS: dict[str, str] = {
    "E21.0": "Primary hyperparathyroidism",
    "36348003": "Primary hyperparathyroidism",
    "E89.0": "Postprocedural hypothyroidism",
    "M81.0": "Age-related osteoporosis without current pathological fracture",
    "64859006": "Osteoporosis",
    "M80.08XA": "Age-related osteoporosis with current pathological fracture, vertebra(e)",
    "Z87.310": "Personal history of (healed) osteoporosis fracture",
    "N18.6": "End stage renal disease",
    "Z99.2": "Dependence on renal dialysis",
    "46177005": "End-stage renal disease",
    "N18.4": "Chronic kidney disease, stage 4 (severe)",
    "C61": "Malignant neoplasm of prostate",
    "C50.911": "Malignant neoplasm of unspecified site of right female breast",
    "Z98.84": "Bariatric surgery status",
    "K50.90": "Crohn's disease, unspecified, without complications",
    "34000006": "Crohn's disease",
    "E24.9": "Cushing's syndrome, unspecified",
    "47270006": "Hypercortisolism",
    "F50.00": "Anorexia nervosa, unspecified",
    "56882008": "Anorexia nervosa",
    "E29.1": "Testicular hypofunction",
    "M06.9": "Rheumatoid arthritis, unspecified",
    "69896004": "Rheumatoid arthritis",
    "E10.9": "Type 1 diabetes mellitus without complications",
    "K90.0": "Celiac disease",
    "M45.9": "Ankylosing spondylitis of unspecified sites in spine",
    "E05.90": "Thyrotoxicosis, unspecified without thyrotoxic crisis or storm",
    "C90.00": "Multiple myeloma not having achieved remission",
    # never read by the rules
    "I10": "Essential (primary) hypertension",
    "38341003": "Hypertensive disorder",
    "E78.5": "Hyperlipidemia, unspecified",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "44054006": "Diabetes mellitus type 2",
    "J45.909": "Unspecified asthma, uncomplicated",
    "M17.11": "Unilateral primary osteoarthritis, right knee",
    "F32.9": "Major depressive disorder, single episode, unspecified",
    "K21.9": "Gastro-esophageal reflux disease without esophagitis",
}
CONDITION_CODES: dict[str, Json] = {
    code: concept(SNOMED if code.isdigit() else ICD10CM, code, display)
    for code, display in CONDITIONS.items()
}
# Some EHRs send ICD-10-CM codes without the dot ("M8008XA"; RULES.md 1.4).
UNDOTTED_CODES: dict[str, Json] = {
    code: concept(ICD10CM, code.replace(".", ""), display)
    for code, display in CONDITIONS.items()
    if "." in code
}
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL_STATUS = {
    s: {"coding": [{"system": _CLINICAL, "code": s}]} for s in ("active", "resolved", "inactive")
}
VERIFICATION_STATUS = {
    s: {"coding": [{"system": _VERIFICATION, "code": s}]} for s in ("confirmed", "refuted")
}
PROBLEM_LIST = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                "code": "problem-list-item",
            }
        ]
    }
]
GASTRIC_BYPASS = concept(SNOMED, "442338001", "Bypass of stomach")

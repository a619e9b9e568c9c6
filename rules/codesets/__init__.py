"""Code sets as data: LOINC, DXA, ICD-10-CM, SNOMED CT, RxNorm, ATC and route codes (RULES.md 2, 3.6, 10.1).

The JSON files of this package are the source of truth; each names its source and version, and
every entry says whether it was verified (RULES.md marks ✓ or "(unverified)"). Unverified codes live
only here, never in Python. A site extends or overrides them with files of the same format in its
own directory (`service.adapters.codesets.load_codesets`), without code changes.

File format (`"format": "osteoalert-codesets/1"`; every section optional except source/version):

    systems          {alias: [system URI, ...]}       codings are matched by (alias, code)
    labs             [{system, code, set, display, verified[, race, note]}]   set = an Analyte
    excluded_labs    [{system, code, reason, ...}]    codes that must never map (1,25(OH)2D)
    egfr_preference  [LOINC, ...]                     order 1→n of 2.1 (a later file replaces it)
    dxa              [{system, code, kind: T|Z|BMD, site: LS|TH|FN|RAD|OTHER, ...}]
    dxa_reports      [{system, code, ...}]            DiagnosticReport codes that are a DXA
    radius_body_sites [{system, code, ...} | {word, ...}]   body sites confirming the forearm
    condition_sets   [{set, icd10cm: [{prefix, ...}], icd10cm_exclude: [...], codes: [...]}]
    derived_condition_sets [{set, includes: [set, ...]}]   e.g. MALABSORPTION
    ckd_stages       [{system, code, stage, ...}]     3.6 stage by code
    procedure_sets   [{set, codes: [{system, code, ...}]}]
    ingredients      [{name, classes, rxnorm: [{code, verified}], atc: [...], pe_factor: {value, verified}}]
    derived_classes  [{class, classes: [...], ingredients: [...]}]   OP_THERAPY, ...
    products         [{system, code, display, ingredients: [...], ...}]   product → ingredients
    synonyms         [{text, ingredient, ...}]        free-text names (INN, brands)
    routes           [{system, code, route: systemic|non-systemic, ...}]
    route_words      [{word, route, ...}]             route/dose-form words in text
    dosing_intervals [{days[, ingredient | class][, when_dose_mg_at_least][, when_text]}]

Any entry may carry `"disabled": true` to remove what an earlier file defined.
"""

from rules.codesets.model import (
    ATC,
    ICD10CM,
    LOINC,
    NON_SYSTEMIC,
    RXNORM,
    SYSTEMIC,
    CodeSets,
    DosingInterval,
    DxaCode,
    Entry,
    Ingredient,
    LabCode,
    normalise_icd10,
)
from rules.codesets.node import CodeSetError
from rules.codesets.parse import FORMAT, build_codesets

__all__ = [
    "ATC",
    "FORMAT",
    "ICD10CM",
    "LOINC",
    "NON_SYSTEMIC",
    "RXNORM",
    "SYSTEMIC",
    "CodeSetError",
    "CodeSets",
    "DosingInterval",
    "DxaCode",
    "Entry",
    "Ingredient",
    "LabCode",
    "build_codesets",
    "normalise_icd10",
]

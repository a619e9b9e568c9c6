"""The code-set files (data) and the pure matching of rules.codesets."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from rules.codesets import CodeSetError, CodeSets, build_codesets, normalise_icd10
from service.adapters.codesets import load_codesets, package_documents
from tests.service.adapters.fhir_json import ICD10CM, LOINC, RXNORM, SNOMED

ROOT = Path(__file__).resolve().parents[3]
ICD = ICD10CM
CPT = "http://www.ama-assn.org/go/cpt"


@pytest.fixture(scope="module")
def cs() -> CodeSets:
    return load_codesets()


def _site(tmp_path: Path, name: str, doc: dict[str, object]) -> Path:
    base = {"format": "osteoalert-codesets/1", "source": "test site", "version": "1"}
    (tmp_path / name).write_text(json.dumps(base | doc), encoding="utf-8")
    return tmp_path


# ---- the files -----------------------------------------------------------------------------
def test_every_code_set_file_names_its_source_and_version() -> None:
    docs = package_documents()
    assert {origin.rsplit("/", 1)[-1] for origin, _ in docs} >= {
        "labs.json",
        "dxa.json",
        "conditions.json",
        "procedures.json",
        "medications.json",
        "rxnorm_products.json",
        "routes.json",
    }
    for origin, doc in docs:
        assert isinstance(doc.get("source"), str) and doc["source"], origin
        assert isinstance(doc.get("version"), str) and doc["version"], origin


def test_every_code_entry_carries_its_verification_status(cs: CodeSets) -> None:
    assert cs.entries
    assert all(isinstance(e.verified, bool) for e in cs.entries)


@pytest.mark.parametrize(
    ("section", "code"),
    [
        ("ingredients/lithium carbonate/rxnorm", "42351"),
        ("ingredients/lithium citrate/rxnorm", "52105"),
        ("ingredients/calcitriol/rxnorm", "1894"),
        ("ingredients/cholecalciferol/rxnorm", "2418"),
        ("ingredients/ergocalciferol/rxnorm", "4450"),
        ("labs/ALBUMIN", "2862-1"),
        ("labs/VITD_TOTAL", "83071-1"),
        ("labs/VITD_TOTAL", "68438-1"),
        ("labs/VITD_D2", "49054-0"),
        ("labs/EGFR", "50210-4"),
        ("labs/EGFR", "69405-9"),
        ("ingredients/prednisone/atc", "H02AB07"),  # ATC 5th level is unverified unless ✓
        ("procedure_sets/DXA", "77080"),
    ],
)
def test_codes_marked_unverified_in_rules_md_are_flagged_unverified(
    cs: CodeSets, section: str, code: str
) -> None:
    entry = next(e for e in cs.entries if e.section == section and e.code == code)
    assert entry.verified is False


@pytest.mark.parametrize(
    ("section", "code"),
    [
        ("ingredients/cholecalciferol/rxnorm", "1244014"),
        ("ingredients/budesonide/atc", "A07EA06"),
        ("labs/CA_TOTAL", "17861-6"),
        ("dxa/T/RAD", "38265-5"),
    ],
)
def test_codes_marked_verified_in_rules_md_are_flagged_verified(
    cs: CodeSets, section: str, code: str
) -> None:
    entry = next(e for e in cs.entries if e.section == section and e.code == code)
    assert entry.verified is True


# The FHIR → snapshot seam (this module's subject). Elsewhere: see the report of issue #2.
SEAM = [
    "rules/codesets/__init__.py",
    "rules/codesets/model.py",
    "rules/codesets/parse.py",
    "rules/codesets/node.py",
    *(
        f"service/adapters/{m}.py"
        for m in (
            "codesets",
            "conditions",
            "dosage",
            "fhir_assemble",
            "fhir_decode",
            "fhir_model",
            "fhir_peek",
            "fhir_refs",
            "fhir_snapshot",
            "fhir_strict",
            "fhir_time",
            "medications",
            "observations",
            "reference_ranges",
        )
    ),
]


def test_unverified_codes_are_never_hard_coded_in_python(cs: CodeSets) -> None:
    sources = [ROOT / name for name in SEAM]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    leaked = sorted(
        {e.code for e in cs.unverified() if e.code and re.search(rf"['\"]{re.escape(e.code)}['\"]", text)}
    )
    assert leaked == []


# ---- laboratory and DXA codes ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "analyte"),
    [
        ("2000-8", "CA_TOTAL"),
        ("49765-1", "CA_TOTAL"),
        ("29265-6", "CA_LABCORR"),
        ("1994-3", "CA_ION"),
        ("2731-8", "PTH"),
        ("62292-8", "VITD_TOTAL"),
        ("14635-7", "VITD_D3"),
        ("35365-6", "VITD_LEGACY"),
        ("38483-4", "CREAT"),
        ("98979-8", "EGFR"),
        ("33914-3", "EGFR"),
        ("6874-2", "UCA24"),
    ],
)
def test_loinc_codes_map_to_their_analyte(cs: CodeSets, code: str, analyte: str) -> None:
    lab = cs.lab(LOINC, code)
    assert lab is not None
    assert lab.analyte == analyte


def test_calcitriol_1_25_dihydroxyvitamin_d_never_maps_to_vitamin_d(cs: CodeSets) -> None:
    assert cs.lab(LOINC, "62290-2") is None
    assert (cs.excluded_lab(LOINC, "62290-2") or "").startswith("excluded-code")


def test_a_code_in_another_system_is_not_a_loinc_code(cs: CodeSets) -> None:
    assert cs.observation_code("http://example.org/local", "2000-8") is None
    assert cs.observation_code(LOINC, "2000-8") is not None


def test_egfr_codes_keep_the_preference_order_of_rules_md(cs: CodeSets) -> None:
    assert cs.egfr_preference[:3] == ("98979-8", "98980-6", "62238-1")
    assert cs.egfr_rank("98979-8") < cs.egfr_rank("33914-3") < cs.egfr_rank("69405-9")
    assert cs.egfr_rank("unknown") == len(cs.egfr_preference)


@pytest.mark.parametrize(
    ("code", "kind", "site"),
    [
        ("38267-1", "T", "LS"),
        ("85394-5", "Z", "LS"),
        ("80946-7", "T", "TH"),
        ("38263-0", "T", "FN"),
        ("80948-3", "T", "FN"),
        ("38265-5", "T", "RAD"),
        ("80932-7", "Z", "RAD"),
        ("24701-5", "BMD", "FN"),
        ("46383-6", "BMD", "OTHER"),
    ],
)
def test_dxa_codes_carry_kind_and_site(cs: CodeSets, code: str, kind: str, site: str) -> None:
    dxa = cs.dxa_code(LOINC, code)
    assert dxa is not None
    assert (dxa.kind, dxa.site) == (kind, site)


def test_the_dxa_panel_83311_1_is_a_dxa_report(cs: CodeSets) -> None:
    assert cs.is_dxa_report(LOINC, "83311-1")
    assert not cs.is_dxa_report(LOINC, "24701-5")


# ---- conditions and procedures ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "dotted"),
    [
        ("M8008XA", "M80.08XA"),
        ("m80.08xa", "M80.08XA"),
        ("C73", "C73"),
        ("E210", "E21.0"),
        (" N18 6 ", "N18.6"),
    ],
)
def test_undotted_icd10_codes_are_normalised(raw: str, dotted: str) -> None:
    assert normalise_icd10(raw) == dotted


@pytest.mark.parametrize(
    ("code", "sets"),
    [
        ("M80.08XA", {"OSTEOPOROSIS", "FRAGILITY_FX", "VERTEBRAL_FX"}),
        ("M8008XA", {"OSTEOPOROSIS", "FRAGILITY_FX", "VERTEBRAL_FX"}),
        ("M81.0", {"OSTEOPOROSIS"}),
        ("E24.9", {"CUSHING"}),
        ("E24.4", set()),  # alcohol-induced pseudo-Cushing is excluded
        ("M06.9", {"RA"}),
        ("M06.4", set()),  # inflammatory polyarthropathy is not RA
        ("M05.79", {"RA"}),
        ("E20.1", {"PSEUDOHYPOPARA"}),
        ("E20.9", {"HYPOPARA"}),
        ("N18.6", {"CKD", "DIALYSIS"}),
        ("Z99.2", {"DIALYSIS"}),
        ("Z94.0", {"KIDNEY_TRANSPLANT"}),  # NOT dialysis
        ("K90.0", {"CELIAC", "MALABSORPTION"}),
        ("K50.90", {"IBD", "MALABSORPTION"}),
        ("Z98.84", {"GI_SURGERY", "MALABSORPTION"}),
        ("K90.9", {"MALABSORPTION"}),
        ("E28.310", {"HYPOGONADISM", "MENOPAUSE"}),
        ("M48.50XA", {"VERTEBRAL_FX"}),
        ("S72.001A", set()),  # a hip fracture code alone is not a fragility fracture
        ("Z87.310", {"FRAGILITY_FX"}),
        ("M85.80", {"OSTEOPENIA"}),
        ("C73", {"THYROID_CANCER"}),
        ("I10", set()),
    ],
)
def test_icd10_cm_codes_match_sets_by_prefix_with_exclusions(cs: CodeSets, code: str, sets: set[str]) -> None:
    assert cs.condition_sets(ICD, code) == sets


@pytest.mark.parametrize(
    ("code", "sets"),
    [
        ("64859006", {"OSTEOPOROSIS"}),
        ("46177005", {"CKD", "DIALYSIS"}),
        ("396331005", {"CELIAC", "MALABSORPTION"}),
        ("240198002", {"VERTEBRAL_FX", "FRAGILITY_FX"}),
        ("431855005", {"CKD"}),
        ("127013003", set()),
    ],
)
def test_snomed_codes_match_the_explicit_lists(cs: CodeSets, code: str, sets: set[str]) -> None:
    assert cs.condition_sets(SNOMED, code) == sets


def test_icd10_prefixes_do_not_apply_to_snomed_codes(cs: CodeSets) -> None:
    assert cs.condition_sets(SNOMED, "M81.0") == set()


@pytest.mark.parametrize(
    ("system", "code", "stage"),
    [
        (ICD, "N18.30", "G3a"),
        (ICD, "N18.3", "G3a"),
        (ICD, "N1831", "G3a"),
        (ICD, "N18.32", "G3b"),
        (ICD, "N18.4", "G4"),
        (ICD, "N18.5", "G5"),
        (ICD, "N18.1", None),
        (ICD, "N18.9", None),
        (SNOMED, "700379002", "G3b"),
        (SNOMED, "431857002", "G4"),
        (SNOMED, "431855005", None),
    ],
)
def test_ckd_stage_by_code(cs: CodeSets, system: str, code: str, stage: str | None) -> None:
    assert cs.ckd_stage(system, code) == stage


@pytest.mark.parametrize(
    ("system", "code", "sets"),
    [
        (SNOMED, "312681000", {"DXA"}),
        (CPT, "77080", {"DXA"}),
        (CPT, "77086", {"DXA"}),
        (SNOMED, "442338001", {"GI_SURGERY", "MALABSORPTION"}),
        (SNOMED, "73761001", set()),
    ],
)
def test_procedure_codes(cs: CodeSets, system: str, code: str, sets: set[str]) -> None:
    assert cs.procedure_sets(system, code) == sets


# ---- medications -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "code", "ingredients"),
    [
        (RXNORM, "8640", {"prednisone"}),
        (RXNORM, "904419", {"alendronate"}),
        (RXNORM, "312617", {"prednisone"}),
        (RXNORM, "752899", {"leuprolide"}),
        (RXNORM, "316049", {"hydrochlorothiazide"}),
        (RXNORM, "1244014", {"cholecalciferol"}),
        (RXNORM, "2418", {"cholecalciferol"}),
        ("http://www.whocc.no/atc", "M05BX04", {"denosumab"}),
        (RXNORM, "617993", set()),
    ],
)
def test_drug_codes_resolve_to_ingredients(
    cs: CodeSets, system: str, code: str, ingredients: set[str]
) -> None:
    assert cs.drug_ingredients(system, code) == ingredients


@pytest.mark.parametrize(
    ("ingredient", "classes"),
    [
        ("alendronate", {"BP", "OP_THERAPY", "ANTIRESORPTIVE_ORDER", "PTH_RAISING_DRUGS"}),
        ("denosumab", {"DENOSUMAB", "OP_THERAPY", "ANTIRESORPTIVE_ORDER", "PTH_RAISING_DRUGS"}),
        ("teriparatide", {"ANABOLIC", "OP_THERAPY"}),
        ("raloxifene", {"SERM", "OP_THERAPY"}),
        ("phenytoin", {"AED", "AED_INDUCER", "PTH_RAISING_DRUGS"}),
        ("valproate", {"AED"}),
        ("hydrochlorothiazide", {"THIAZIDE", "PTH_RAISING_DRUGS"}),
        ("lithium carbonate", {"LITHIUM", "PTH_RAISING_DRUGS"}),
        ("furosemide", {"LOOP", "PTH_RAISING_DRUGS"}),
        ("fludrocortisone", {"MINERALOCORTICOID"}),
        ("budesonide", {"GC"}),
    ],
)
def test_ingredient_classes_include_the_derived_classes(
    cs: CodeSets, ingredient: str, classes: set[str]
) -> None:
    assert cs.classes_of([ingredient]) == classes


@pytest.mark.parametrize(
    ("ingredient", "factor"),
    [
        ("prednisone", 1.0),
        ("dexamethasone", 6.67),
        ("hydrocortisone", 0.25),
        ("methylprednisolone", 1.25),
        ("budesonide", None),
        ("fludrocortisone", None),
        ("alendronate", None),
    ],
)
def test_prednisone_equivalent_factors(cs: CodeSets, ingredient: str, factor: float | None) -> None:
    assert cs.pe_factor_of([ingredient]) == factor


@pytest.mark.parametrize(
    ("text", "ingredients"),
    [
        ("Alendronic acid 70 MG Oral Tablet", {"alendronate"}),
        ("Losartan Potassium 50 MG / Hydrochlorothiazide 12.5 MG Oral Tablet", {"hydrochlorothiazide"}),
        ("methylPREDNISolone 4 MG Oral Tablet", {"methylprednisolone"}),  # not prednisolone
        ("Hydrocortisone 1% cream", {"hydrocortisone"}),  # not cortisone
        ("Esomeprazole 40 mg", {"esomeprazole"}),  # not omeprazole
        ("Prolia injection", {"denosumab"}),
        ("Vitamin D3 1000 IU", {"cholecalciferol"}),
        ("Vitamin B 12 5 MG/ML", set()),
    ],
)
def test_free_text_matches_whole_ingredient_names_and_synonyms(
    cs: CodeSets, text: str, ingredients: set[str]
) -> None:
    assert cs.ingredients_in_text(text) == ingredients


@pytest.mark.parametrize(
    ("ingredients", "dose", "text", "days"),
    [
        (["denosumab"], 60.0, "Prolia", 182),
        (["denosumab"], 120.0, "", 28),
        (["denosumab"], None, "Xgeva", 28),
        (["zoledronic acid"], 5.0, "", 365),
        (["ibandronate"], 3.0, "ibandronate injection", 90),
        (["ibandronate"], 150.0, "ibandronate oral tablet", 30),
        (["romosozumab"], None, "", 31),
        (["teriparatide"], None, "", 1),
        (["leuprolide"], None, "", 90),
        (["omeprazole"], None, "", 30),
    ],
)
def test_administration_dosing_intervals(
    cs: CodeSets, ingredients: list[str], dose: float | None, text: str, days: float
) -> None:
    assert cs.dosing_interval_days(ingredients, dose, text) == days


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Hydrocortisone 10 MG/ML Topical Cream", "non-systemic"),
        ("budesonide 0.25 MG/ML Inhalation Suspension", "non-systemic"),
        ("Fluticasone 50 MCG/ACTUAT Nasal Spray", "non-systemic"),
        ("predniSONE 5 MG Oral Tablet", "systemic"),
        ("Fluticasone Oral Inhalation", "non-systemic"),
        ("Hydrochlorothiazide 25 MG", None),
        ("take with time", None),
    ],
)
def test_route_words_non_systemic_wins(cs: CodeSets, text: str, route: str | None) -> None:
    assert cs.route_of_text(text) == route


# ---- a site's extension files ----------------------------------------------------------------
def test_a_site_file_adds_a_local_lab_code_without_code_changes(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        "local.json",
        {
            "systems": {"local-lab": ["urn:oid:1.2.3.4"]},
            "labs": [
                {"system": "local-lab", "code": "CA-1", "set": "CA_TOTAL", "display": "Ca", "verified": False}
            ],
        },
    )
    cs = load_codesets(site)
    lab = cs.lab("urn:oid:1.2.3.4", "CA-1")
    assert lab is not None
    assert lab.analyte == "CA_TOTAL"
    assert load_codesets().lab("urn:oid:1.2.3.4", "CA-1") is None  # the package sets are untouched


def test_a_site_file_overrides_and_disables_entries(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        "override.json",
        {
            "routes": [{"system": "snomed", "code": "37161004", "route": "systemic", "verified": False}],
            "condition_sets": [
                {"set": "RA", "icd10cm": [{"prefix": "M06.9", "disabled": True, "verified": True}]}
            ],
            "products": [
                {"system": "rxnorm", "code": "999", "ingredients": ["prednisone"], "verified": False}
            ],
        },
    )
    cs = load_codesets(site)
    assert cs.route_of_code(SNOMED, "37161004") == "systemic"  # rectal made systemic by the site
    assert cs.condition_sets(ICD, "M06.9") == set()
    assert cs.drug_ingredients(RXNORM, "999") == {"prednisone"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"labs": [{"system": "loinc", "code": "1", "set": "CALCIUM", "verified": True}]},
            "'set' must be one of",
        ),
        ({"labs": [{"system": "loinc", "code": "1", "set": "PTH"}]}, "'verified' must be true or false"),
        ({"synonyms": [{"text": "x", "ingredient": "unobtainium", "verified": False}]}, "unobtainium"),
        ({"dxa": [{"system": "loinc", "code": "1", "kind": "Q", "site": "LS", "verified": True}]}, "'kind'"),
        ({"bogus": []}, "unknown section"),
    ],
)
def test_a_malformed_site_file_is_refused_with_file_and_place(
    tmp_path: Path, doc: dict[str, object], message: str
) -> None:
    site = _site(tmp_path, "bad.json", doc)
    with pytest.raises(CodeSetError, match=re.escape(message)) as err:
        load_codesets(site)
    assert "bad.json" in str(err.value)


def test_a_missing_site_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CodeSetError, match="not found"):
        load_codesets(tmp_path / "nowhere")


def test_documents_without_source_and_version_are_refused() -> None:
    with pytest.raises(CodeSetError, match="'source'"):
        build_codesets([("x.json", {"format": "osteoalert-codesets/1"})])


def test_code_sets_are_loaded_once_per_directory() -> None:
    assert load_codesets() is load_codesets()


@pytest.mark.fixtures
def test_product_displays_match_the_synthea_fixture_data(cs: CodeSets, shared_fixtures: Path) -> None:
    seen: dict[str, set[str]] = {}
    for path in [
        shared_fixtures / "synthea-r4-2019" / "ndjson" / "MedicationRequest.ndjson.gz",
        shared_fixtures / "synthea-bulk-10pt-2024" / "MedicationRequest.000.ndjson.gz",
    ]:
        for line in gzip.decompress(path.read_bytes()).splitlines():
            for coding in json.loads(line)["medicationCodeableConcept"]["coding"]:
                seen.setdefault(coding["code"], set()).add(coding["display"])
    products = [e for e in cs.entries if e.section == "products"]
    assert len(products) >= 10
    for entry in products:
        assert entry.display in seen.get(entry.code, set()), (entry.code, entry.display)

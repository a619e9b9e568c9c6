"""The code-set model and its matching functions (pure: built from already-parsed JSON mappings).

Codes are looked up by (system alias, code), e.g. ("loinc", "2000-8"); a coding's system URI is
turned into its alias through the `systems` table of the code-set files, so a site can add local
code systems without code changes. ICD-10-CM matches by prefix on dotted codes (RULES.md 1.4);
SNOMED CT and every other system match the explicit lists (no subsumption without a terminology
service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Key = tuple[str, str]  # (system alias, code)

ICD10CM = "icd10cm"
LOINC = "loinc"
RXNORM = "rxnorm"
ATC = "atc"
SYSTEMIC = "systemic"
NON_SYSTEMIC = "non-systemic"


def normalise_icd10(code: str) -> str:
    """Upper-case, no blanks, dot after the third character (`M8008XA` → `M80.08XA`)."""
    text = "".join(code.split()).upper()
    if len(text) > 3 and "." not in text:
        text = f"{text[:3]}.{text[3:]}"
    return text


@dataclass(frozen=True, slots=True)
class Entry:
    """Provenance of one code-set entry: where it comes from and whether it was verified."""

    section: str  # "labs", "condition_sets/CKD", "ingredients/prednisone/rxnorm", ...
    system: str
    code: str
    display: str
    verified: bool
    note: str = ""
    origin: str = ""  # the file it came from


@dataclass(frozen=True, slots=True)
class LabCode:
    analyte: str  # an rules.snapshot.Analyte value
    code: str
    race: str | None = None  # "black" / "non-black" for legacy race-based eGFR codes


@dataclass(frozen=True, slots=True)
class DxaCode:
    kind: str  # "T" | "Z" | "BMD"
    site: str  # an rules.snapshot.DxaSite value
    code: str


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    classes: frozenset[str]  # derived classes (OP_THERAPY, ...) included
    pe_factor: float | None = None


@dataclass(frozen=True, slots=True)
class DosingInterval:
    """How long one MedicationAdministration counts as current (RULES.md 10.1 #13)."""

    days: float
    ingredient: str | None = None
    drug_class: str | None = None
    dose_mg_at_least: float | None = None
    text: tuple[str, ...] = ()  # any of these words in the product or route text

    @property
    def conditional(self) -> bool:
        return self.dose_mg_at_least is not None or bool(self.text)

    def applies(self, dose_mg: float | None, text: str) -> bool:
        if not self.conditional:
            return True
        by_dose = (
            self.dose_mg_at_least is not None and dose_mg is not None and dose_mg >= self.dose_mg_at_least
        )
        return by_dose or any(word in text for word in self.text)


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, ordered)) + r")(?![a-z0-9])")


@dataclass(frozen=True, eq=False)
class CodeSets:
    """Every code set of RULES.md section 2 (plus a site's extensions), ready for matching."""

    systems: Mapping[str, str]  # system URI → alias
    labs: Mapping[Key, LabCode]
    excluded_labs: Mapping[Key, str]  # → the reason logged when such a result is met
    egfr_preference: tuple[str, ...]
    dxa: Mapping[Key, DxaCode]
    dxa_reports: frozenset[Key]
    radius_sites: frozenset[Key]
    radius_words: tuple[str, ...]
    icd10_prefixes: Mapping[str, frozenset[str]]  # normalised prefix → set names
    icd10_excluded: Mapping[str, frozenset[str]]  # normalised prefix → set names it leaves
    condition_codes: Mapping[Key, frozenset[str]]
    derived_sets: Mapping[str, frozenset[str]]  # derived set → member sets
    ckd_stages: Mapping[Key, str]
    procedure_codes: Mapping[Key, frozenset[str]]
    ingredients: Mapping[str, Ingredient]
    drug_codes: Mapping[Key, frozenset[str]]  # RxNorm IN / product, ATC → ingredient names
    synonyms: Mapping[str, str]  # lower-case name → ingredient
    routes: Mapping[Key, str]  # route code → "systemic" | "non-systemic"
    route_words: Mapping[str, str]
    dosing_intervals: tuple[DosingInterval, ...]
    entries: tuple[Entry, ...] = ()
    sources: tuple[tuple[str, str, str], ...] = ()  # (origin, source, version) per file
    _names: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _systemic: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _non_systemic: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _radius: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    # (system URI or alias, code) → what an Observation with that coding is (the hot lookup).
    observation_index: Mapping[tuple[str | None, str], LabCode | DxaCode | str] = field(
        init=False, repr=False, default_factory=dict
    )
    observation_codes: frozenset[str] = field(init=False, repr=False, default=frozenset())
    procedure_code_values: frozenset[str] = field(init=False, repr=False, default=frozenset())

    def __post_init__(self) -> None:
        names = list(self.ingredients) + list(self.synonyms)
        by_route = {
            kind: [w for w, k in self.route_words.items() if k == kind] for kind in (SYSTEMIC, NON_SYSTEMIC)
        }
        # Frozen: the compiled patterns are derived once, here.
        object.__setattr__(self, "_names", _words_pattern(names))
        object.__setattr__(self, "_systemic", _words_pattern(by_route[SYSTEMIC]))
        object.__setattr__(self, "_non_systemic", _words_pattern(by_route[NON_SYSTEMIC]))
        object.__setattr__(self, "_radius", _words_pattern(self.radius_words))
        index = self._observation_index()
        object.__setattr__(self, "observation_index", index)
        object.__setattr__(self, "observation_codes", frozenset(code for _, code in index))
        codes = frozenset(code for _, code in self.procedure_codes)
        object.__setattr__(self, "procedure_code_values", codes)

    def _observation_index(self) -> dict[tuple[str | None, str], LabCode | DxaCode | str]:
        uris: dict[str, list[str]] = {}
        for uri, alias in self.systems.items():
            uris.setdefault(alias, []).append(uri)
        index: dict[tuple[str | None, str], LabCode | DxaCode | str] = {}
        tables: tuple[Mapping[Key, LabCode | DxaCode | str], ...] = (
            self.excluded_labs,
            self.dxa,
            self.labs,  # later tables win on a shared code
        )
        for table in tables:
            for (alias, code), value in table.items():
                for system in [alias, *uris.get(alias, ())]:
                    index[(system, code)] = value
        return index

    # ---- systems -----------------------------------------------------------------------------
    def alias(self, system: str | None) -> str:
        """The alias of a system URI ("http://loinc.org" → "loinc"); unknown URIs stand for themselves."""
        if system is None:
            return ""
        return self.systems.get(system, system)

    def key(self, system: str | None, code: str) -> Key:
        return self.alias(system), code

    # ---- observations ------------------------------------------------------------------------
    def observation_code(self, system: str | None, code: str) -> LabCode | DxaCode | str | None:
        """A lab code, a DXA code, or the reason an excluded code is never used (1,25(OH)2D)."""
        if code not in self.observation_codes:
            return None
        return self.observation_index.get((system, code))

    def lab(self, system: str | None, code: str) -> LabCode | None:
        return self.labs.get((self.alias(system), code))

    def excluded_lab(self, system: str | None, code: str) -> str | None:
        return self.excluded_labs.get((self.alias(system), code))

    def dxa_code(self, system: str | None, code: str) -> DxaCode | None:
        return self.dxa.get((self.alias(system), code))

    def is_dxa_report(self, system: str | None, code: str) -> bool:
        return (self.alias(system), code) in self.dxa_reports

    def egfr_rank(self, code: str) -> int:
        try:
            return self.egfr_preference.index(code)
        except ValueError:
            return len(self.egfr_preference)

    def confirms_radius(self, system: str | None, code: str | None, text: str) -> bool:
        """A body-site coding or text that names the forearm (radius/ulna)."""
        if code is not None and (self.alias(system), code) in self.radius_sites:
            return True
        return self._radius is not None and self._radius.search(text.lower()) is not None

    # ---- conditions and procedures -----------------------------------------------------------
    def icd10_sets(self, code: str) -> frozenset[str]:
        """Sets an ICD-10-CM code belongs to: prefix matches minus the sets an exclusion removes."""
        norm = normalise_icd10(code)
        found: set[str] = set()
        excluded: set[str] = set()
        for end in range(3, len(norm) + 1):
            prefix = norm[:end]
            found.update(self.icd10_prefixes.get(prefix, ()))
            excluded.update(self.icd10_excluded.get(prefix, ()))
        return frozenset(found - excluded)

    def with_derived(self, sets: frozenset[str]) -> frozenset[str]:
        extra = {name for name, members in self.derived_sets.items() if sets & members}
        return sets | extra if extra else sets

    def condition_sets(self, system: str | None, code: str) -> frozenset[str]:
        alias = self.alias(system)
        if alias == ICD10CM:
            sets = self.icd10_sets(code)
        else:
            sets = self.condition_codes.get((alias, code), frozenset())
        return self.with_derived(sets) if sets else sets

    def ckd_stage(self, system: str | None, code: str) -> str | None:
        alias = self.alias(system)
        if alias == ICD10CM:
            code = normalise_icd10(code)
        return self.ckd_stages.get((alias, code))

    def procedure_sets(self, system: str | None, code: str) -> frozenset[str]:
        sets = self.procedure_codes.get((self.alias(system), code), frozenset())
        return self.with_derived(sets) if sets else sets

    # ---- medications -------------------------------------------------------------------------
    def drug_ingredients(self, system: str | None, code: str) -> frozenset[str]:
        """Ingredients of an RxNorm ingredient/product code or an ATC code (empty when unknown)."""
        return self.drug_codes.get((self.alias(system), code), frozenset())

    def ingredients_in_text(self, text: str) -> frozenset[str]:
        """Ingredient names (or synonyms) that appear as whole words in free text (1.3 `text-match`)."""
        if self._names is None or not text:
            return frozenset()
        found = self._names.findall(text.lower())
        return frozenset(self.synonyms.get(name, name) for name in found)

    def classes_of(self, ingredients: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for name in ingredients:
            known = self.ingredients.get(name)
            if known is not None:
                out |= known.classes
        return frozenset(out)

    def pe_factor_of(self, ingredients: Iterable[str]) -> float | None:
        """The prednisone-equivalent factor when exactly one ingredient is a glucocorticoid."""
        factors = [
            self.ingredients[n].pe_factor
            for n in ingredients
            if n in self.ingredients and "GC" in self.ingredients[n].classes
        ]
        return factors[0] if len(factors) == 1 else None

    def route_of_code(self, system: str | None, code: str) -> str | None:
        return self.routes.get((self.alias(system), code))

    def route_of_text(self, text: str) -> str | None:
        """Non-systemic words win over systemic ones ("Oral Inhalation" is inhaled)."""
        if not text:
            return None
        lowered = text.lower()
        if self._non_systemic is not None and self._non_systemic.search(lowered):
            return NON_SYSTEMIC
        if self._systemic is not None and self._systemic.search(lowered):
            return SYSTEMIC
        return None

    def dosing_interval_days(self, ingredients: Iterable[str], dose_mg: float | None, text: str) -> float:
        """Dosing interval of an administration: by ingredient (conditional entries first), class, default."""
        names = set(ingredients)
        classes = self.classes_of(names)
        lowered = text.lower()
        best: float | None = None
        for tier in (
            [d for d in self.dosing_intervals if d.ingredient in names and d.conditional],
            [d for d in self.dosing_intervals if d.ingredient in names and not d.conditional],
            [d for d in self.dosing_intervals if d.drug_class in classes],
        ):
            days = [d.days for d in tier if d.applies(dose_mg, lowered)]
            if days:
                best = max(days)
                break
        if best is not None:
            return best
        defaults = [d.days for d in self.dosing_intervals if d.ingredient is None and d.drug_class is None]
        return max(defaults) if defaults else 30.0

    # ---- reporting ---------------------------------------------------------------------------
    def unverified(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if not e.verified)

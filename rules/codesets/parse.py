"""Build a `CodeSets` from parsed code-set documents (the JSON files of this package, then a site's).

Documents are merged in order. Keyed entries (a lab code, a product, a route, an ingredient ...)
added later replace earlier ones with the same key; `"disabled": true` removes the key. Condition
and procedure sets grow by union (a disabled prefix/code leaves the set). A later `egfr_preference`
replaces the earlier list. Every entry carries `verified`; anything malformed raises `CodeSetError`
naming the file and the place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rules.codesets.model import (
    CodeSets,
    DosingInterval,
    DxaCode,
    Entry,
    Ingredient,
    Key,
    LabCode,
    normalise_icd10,
)
from rules.codesets.node import CodeSetError, Node
from rules.snapshot import Analyte, DxaSite

ANALYTES = frozenset(a.value for a in Analyte)
SITES = frozenset(s.value for s in DxaSite)
K = TypeVar("K")
V = TypeVar("V")

FORMAT = "osteoalert-codesets/1"
KNOWN_SECTIONS = frozenset(
    {
        "format", "source", "version", "description", "systems", "labs", "excluded_labs",
        "egfr_preference", "dxa", "dxa_reports", "radius_body_sites", "condition_sets",
        "derived_condition_sets", "ckd_stages", "procedure_sets", "ingredients",
        "derived_classes", "products", "synonyms", "routes", "route_words", "dosing_intervals",
    }
)  # fmt: skip


@dataclass
class _Builder:
    systems: dict[str, str] = field(default_factory=dict)
    labs: dict[Key, LabCode] = field(default_factory=dict)
    excluded_labs: dict[Key, str] = field(default_factory=dict)
    egfr_preference: tuple[str, ...] = ()
    dxa: dict[Key, DxaCode] = field(default_factory=dict)
    dxa_reports: dict[Key, bool] = field(default_factory=dict)
    radius_sites: dict[Key, bool] = field(default_factory=dict)
    radius_words: dict[str, bool] = field(default_factory=dict)
    icd10: dict[tuple[str, str], bool] = field(default_factory=dict)  # (prefix, set)
    icd10_excluded: dict[tuple[str, str], bool] = field(default_factory=dict)
    condition_codes: dict[tuple[Key, str], bool] = field(default_factory=dict)
    derived_sets: dict[str, set[str]] = field(default_factory=dict)
    ckd_stages: dict[Key, str] = field(default_factory=dict)
    procedure_codes: dict[tuple[Key, str], bool] = field(default_factory=dict)
    ingredients: dict[str, tuple[frozenset[str], float | None, list[Key]]] = field(default_factory=dict)
    derived_classes: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    products: dict[Key, frozenset[str]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)
    routes: dict[Key, str] = field(default_factory=dict)
    route_words: dict[str, str] = field(default_factory=dict)
    intervals: dict[tuple[str | None, str | None, float | None, tuple[str, ...]], DosingInterval] = field(
        default_factory=dict
    )
    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    sources: list[tuple[str, str, str]] = field(default_factory=list)

    def note(self, entry: Entry) -> None:
        self.entries[(entry.section, entry.system, entry.code)] = entry


def _put(table: dict[K, V], key: K, value: V, disabled: bool) -> None:
    """Add or replace `key`, or remove it when the entry says `"disabled": true`."""
    if disabled:
        table.pop(key, None)
    else:
        table[key] = value


def _systems(b: _Builder, doc: Node) -> None:
    raw = doc.value.get("systems", {})
    systems = Node(raw, f"{doc.where}.systems")
    for alias in systems.value:
        for uri in systems.strings(alias):
            b.systems[uri] = alias


def _observations(b: _Builder, doc: Node, origin: str) -> None:
    for n in doc.nodes("labs"):
        key = (n.text("system"), n.text("code"))
        race = n.opt_text("race")
        if n.text("set") not in ANALYTES:
            raise n.fail(f"'set' must be one of {sorted(ANALYTES)}, not {n.text('set')!r}")
        _put(b.labs, key, LabCode(n.text("set"), key[1], race), n.disabled)
        b.note(n.entry(f"labs/{n.text('set')}", *key, origin))
    for n in doc.nodes("excluded_labs"):
        key = (n.text("system"), n.text("code"))
        _put(b.excluded_labs, key, n.text("reason"), n.disabled)
        b.note(n.entry("excluded_labs", *key, origin))
    if "egfr_preference" in doc.value:
        b.egfr_preference = tuple(doc.strings("egfr_preference"))
    for n in doc.nodes("dxa"):
        key = (n.text("system"), n.text("code"))
        kind, site = n.text("kind"), n.text("site")
        if kind not in ("T", "Z", "BMD"):
            raise n.fail(f"'kind' must be T, Z or BMD, not {kind!r}")
        if site not in SITES:
            raise n.fail(f"'site' must be one of {sorted(SITES)}, not {site!r}")
        _put(b.dxa, key, DxaCode(kind, site, key[1]), n.disabled)
        b.note(n.entry(f"dxa/{kind}/{site}", *key, origin))
    for n in doc.nodes("dxa_reports"):
        key = (n.text("system"), n.text("code"))
        _put(b.dxa_reports, key, True, n.disabled)
        b.note(n.entry("dxa_reports", *key, origin))
    for n in doc.nodes("radius_body_sites"):
        if "word" in n.value:
            word = n.text("word").lower()
            _put(b.radius_words, word, True, n.disabled)
            continue
        key = (n.text("system"), n.text("code"))
        _put(b.radius_sites, key, True, n.disabled)
        b.note(n.entry("radius_body_sites", *key, origin))


def _conditions(b: _Builder, doc: Node, origin: str) -> None:
    for n in doc.nodes("condition_sets"):
        name = n.text("set")
        for p in n.nodes("icd10cm"):
            key = (normalise_icd10(p.text("prefix")), name)
            _put(b.icd10, key, True, p.disabled)
            b.note(p.entry(f"condition_sets/{name}", "icd10cm", key[0], origin))
        for p in n.nodes("icd10cm_exclude"):
            key = (normalise_icd10(p.text("prefix")), name)
            _put(b.icd10_excluded, key, True, p.disabled)
            b.note(p.entry(f"condition_sets/{name}/exclude", "icd10cm", key[0], origin))
        for c in n.nodes("codes"):
            ckey = ((c.text("system"), c.text("code")), name)
            _put(b.condition_codes, ckey, True, c.disabled)
            b.note(c.entry(f"condition_sets/{name}", *ckey[0], origin))
    for n in doc.nodes("derived_condition_sets"):
        b.derived_sets.setdefault(n.text("set"), set()).update(n.strings("includes"))
    for n in doc.nodes("ckd_stages"):
        system, code = n.text("system"), n.text("code")
        key = (system, normalise_icd10(code) if system == "icd10cm" else code)
        _put(b.ckd_stages, key, n.text("stage"), n.disabled)
        b.note(n.entry(f"ckd_stages/{n.text('stage')}", *key, origin))
    for n in doc.nodes("procedure_sets"):
        name = n.text("set")
        for c in n.nodes("codes"):
            pkey = ((c.text("system"), c.text("code")), name)
            _put(b.procedure_codes, pkey, True, c.disabled)
            b.note(c.entry(f"procedure_sets/{name}", *pkey[0], origin))


def _medications(b: _Builder, doc: Node, origin: str) -> None:
    for n in doc.nodes("ingredients"):
        name = n.text("name").lower()
        if n.disabled:
            b.ingredients.pop(name, None)
            continue
        keys: list[Key] = []
        for system in ("rxnorm", "atc"):
            for c in n.nodes(system):
                keys.append((system, c.text("code")))
                b.note(c.entry(f"ingredients/{name}/{system}", system, c.text("code"), origin))
        pe = None
        if "pe_factor" in n.value:
            factor = Node(n.value["pe_factor"], f"{n.where}.pe_factor")
            pe = factor.number("value")
            b.note(factor.entry(f"ingredients/{name}/pe_factor", "", str(pe), origin))
        b.ingredients[name] = (frozenset(n.strings("classes")), pe, keys)
    for n in doc.nodes("derived_classes"):
        ingredients = frozenset(s.lower() for s in n.strings("ingredients"))
        b.derived_classes[n.text("class")] = (frozenset(n.strings("classes")), ingredients)
    for n in doc.nodes("products"):
        key = (n.text("system"), n.text("code"))
        names = frozenset(s.lower() for s in n.strings("ingredients"))
        _put(b.products, key, names, n.disabled)
        b.note(n.entry("products", *key, origin))
    for n in doc.nodes("synonyms"):
        text = n.text("text").lower()
        _put(b.synonyms, text, n.text("ingredient").lower(), n.disabled)
    for n in doc.nodes("routes"):
        key = (n.text("system"), n.text("code"))
        _put(b.routes, key, _route(n), n.disabled)
        b.note(n.entry("routes", *key, origin))
    for n in doc.nodes("route_words"):
        word = n.text("word").lower()
        _put(b.route_words, word, _route(n), n.disabled)
    for n in doc.nodes("dosing_intervals"):
        words = tuple(w.lower() for w in n.strings("when_text"))
        interval = DosingInterval(
            n.number("days") or 0.0, _lower(n.opt_text("ingredient")), n.opt_text("class"),
            n.number("when_dose_mg_at_least"), words,
        )  # fmt: skip
        ikey = (interval.ingredient, interval.drug_class, interval.dose_mg_at_least, words)
        _put(b.intervals, ikey, interval, n.disabled)


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _route(n: Node) -> str:
    route = n.text("route")
    if route not in ("systemic", "non-systemic"):
        raise n.fail(f"'route' must be systemic or non-systemic, not {route!r}")
    return route


def _group(pairs: Mapping[tuple[str, str], bool]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for first, second in pairs:
        out.setdefault(first, set()).add(second)
    return {k: frozenset(v) for k, v in out.items()}


def _group_keys(pairs: Mapping[tuple[Key, str], bool]) -> dict[Key, frozenset[str]]:
    out: dict[Key, set[str]] = {}
    for key, name in pairs:
        out.setdefault(key, set()).add(name)
    return {k: frozenset(v) for k, v in out.items()}


def _finish_medications(b: _Builder) -> tuple[dict[str, Ingredient], dict[Key, frozenset[str]]]:
    ingredients: dict[str, Ingredient] = {}
    codes: dict[Key, set[str]] = {}
    for name, (classes, pe, keys) in b.ingredients.items():
        derived = {
            d for d, (members, extra) in b.derived_classes.items() if classes & members or name in extra
        }
        ingredients[name] = Ingredient(name, classes | derived, pe)
        for key in keys:
            codes.setdefault(key, set()).add(name)
    for key, names in b.products.items():
        codes.setdefault(key, set()).update(names)
    return ingredients, {k: frozenset(v) for k, v in codes.items()}


def _check_names(b: _Builder) -> None:
    """Every ingredient a product, synonym, derived class or interval names must be defined."""
    known = set(b.ingredients)
    named: list[tuple[str, str | None]] = [
        (f"product {k[0]}|{k[1]}", n) for k, names in b.products.items() for n in names
    ]
    named += [(f"synonym {text!r}", n) for text, n in b.synonyms.items()]
    named += [(f"derived class {c}", n) for c, (_, names) in b.derived_classes.items() for n in names]
    named += [(f"dosing interval of {d.ingredient}", d.ingredient) for d in b.intervals.values()]
    for where, name in named:
        if name is not None and name not in known:
            raise CodeSetError(f"{where} names ingredient {name!r}, which no code-set file defines")


def build_codesets(documents: Sequence[tuple[str, Mapping[str, object]]]) -> CodeSets:
    """Merge (origin, parsed JSON) documents, in order, into one `CodeSets`."""
    b = _Builder()
    for origin, raw in documents:
        doc = Node(raw, origin)
        unknown = set(doc.value) - KNOWN_SECTIONS
        if unknown:
            raise doc.fail(f"unknown section(s) {sorted(unknown)}")
        if doc.text("format", FORMAT) != FORMAT:
            raise doc.fail(f"'format' must be {FORMAT!r}")
        b.sources.append((origin, doc.text("source"), doc.text("version")))
        _systems(b, doc)
        _observations(b, doc, origin)
        _conditions(b, doc, origin)
        _medications(b, doc, origin)
    try:
        _check_names(b)
    except CodeSetError as exc:
        origins = ", ".join(origin for origin, _ in documents)
        raise CodeSetError(f"{exc} (files: {origins})") from None
    ingredients, drug_codes = _finish_medications(b)
    return CodeSets(
        systems=dict(b.systems),
        labs=dict(b.labs),
        excluded_labs=dict(b.excluded_labs),
        egfr_preference=b.egfr_preference,
        dxa=dict(b.dxa),
        dxa_reports=frozenset(b.dxa_reports),
        radius_sites=frozenset(b.radius_sites),
        radius_words=tuple(b.radius_words),
        icd10_prefixes=_group(b.icd10),
        icd10_excluded=_group(b.icd10_excluded),
        condition_codes=_group_keys(b.condition_codes),
        derived_sets={k: frozenset(v) for k, v in b.derived_sets.items()},
        ckd_stages=dict(b.ckd_stages),
        procedure_codes=_group_keys(b.procedure_codes),
        ingredients=ingredients,
        drug_codes=drug_codes,
        synonyms=dict(b.synonyms),
        routes=dict(b.routes),
        route_words=dict(b.route_words),
        dosing_intervals=tuple(b.intervals.values()),
        entries=tuple(b.entries.values()),
        sources=tuple(b.sources),
    )

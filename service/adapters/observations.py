"""Observations → eligible `LabResult`s, `DxaScore`s and `DxaEvent`s (RULES.md 1.2, 2.1, 2.2, 3.1).

Only Observations whose code is in a set are looked at; each of those is either used or logged
in `ignored` with the first eligibility rule it fails: `status-<status>`, `data-absent`,
`no-value`, `unit-unrecognised` (never guessed: UCUM code first, then the printed-unit synonyms
of `rules.units`), `implausible-value`, `no-effective-time`, or `invalid-resource: <why>`.
Lab results whose top level has no value but whose components carry set codes (eGFR panels)
are read component by component.

This is the hot loop of every path (a sweep reads millions of Observations): what depends only on
the code (analyte, unit table, eGFR rank) is looked up once per code set (`_prepared`), and unit
factors once per (table, code, printed unit) (`rules.units.factor_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from rules.codesets import CodeSets, DxaCode, LabCode
from rules.findings import Ignored
from rules.params import Parameters
from rules.snapshot import Analyte, DxaEvent, DxaScore, DxaSite, LabResult
from rules.units import BMD, SCORE, TABLES, UnitTable, apply_comparator, factor_for, is_plausible
from service.adapters import fhir_model as fm
from service.adapters.fhir_time import parse_datetime
from service.adapters.reference_ranges import lab_range

ELIGIBLE = frozenset({"final", "amended", "corrected"})
ANALYTES = {a.value: a for a in Analyte}
SITES = {s.value: s for s in DxaSite}  # a dict read, not an Enum call, per DXA score
UCUM = "http://unitsofmeasure.org"


class Ineligible(Exception):  # noqa: N818 - a reason, not an error: it ends up in `ignored`
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Lab:
    """A lab code with what reading its results needs."""

    code: LabCode
    analyte: Analyte
    table: UnitTable
    rank: int


Match = _Lab | DxaCode | str  # a lab code, a DXA code, or why an excluded code is never used


@lru_cache(maxsize=8)
def _prepared(codesets: CodeSets) -> dict[tuple[str | None, str | None], Match]:
    """The code sets' observation index with each lab code prepared (built once per code sets)."""
    out: dict[tuple[str | None, str | None], Match] = {}
    for key, found in codesets.observation_index.items():
        if isinstance(found, LabCode):
            analyte = ANALYTES[found.analyte]
            rank = codesets.egfr_rank(found.code) if analyte is Analyte.EGFR else 0
            out[key] = _Lab(found, analyte, TABLES[analyte], rank)
        else:
            out[key] = found
    return out


@dataclass
class ObservationReader:
    codesets: CodeSets
    params: Parameters
    sex: str
    birth_date: date | None
    report_of: dict[str, str]  # Observation ref → DiagnosticReport ref
    labs: list[LabResult] = field(default_factory=list)
    scores: list[DxaScore] = field(default_factory=list)
    events: list[DxaEvent] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    race: dict[int, str] = field(default_factory=dict)  # id(LabResult) → race of a legacy eGFR code

    def __post_init__(self) -> None:
        self._index = _prepared(self.codesets)
        self._codes = self.codesets.observation_codes
        self._epsilon = self.params.comparator_epsilon

    def read_all(self, observations: Iterable[fm.Observation]) -> None:
        """Use or log every Observation in a code set (and every panel whose components may be)."""
        codes, index = self._codes, self._index
        for o in observations:  # the hot loop: most Observations are in no code set
            concept = o.code
            if concept is None:
                continue
            match = None
            for coding in concept.coding:  # `_match`, inlined
                code = coding.code
                if code in codes:
                    match = index.get((coding.system, code))
                    if match is not None:
                        break
            if type(match) is _Lab and not o.component:  # the common case: one lab result
                status = o.status or "missing"  # `_status`, inlined
                try:
                    if status not in ELIGIBLE:
                        raise Ineligible(f"status-{status}")
                    self._lab_value(o, match, status, o.value_quantity, o.data_absent_reason, o)
                except Ineligible as why:
                    self.ignored.append(Ignored(o.ref, why.reason))
            elif match is not None or (o.component and o.value_quantity is None and self._coded(o.component)):
                self._read(o, match)

    def _coded(self, components: Sequence[fm.ObservationComponent]) -> bool:
        """A component has a code in some set (blood-pressure panels and the like have none)."""
        codes = self._codes
        for c in components:  # loops, not any(<generator>): most panels (vital signs) have none
            if c.code is not None:
                for coding in c.code.coding:
                    if coding.code in codes:
                        return True
        return False

    def read(self, obs: fm.Observation) -> None:
        """Use or log one Observation (the caller has already skipped those in no code set)."""
        self._read(obs, self._match(obs.code))

    def _read(self, obs: fm.Observation, match: Match | None) -> None:
        """The general path (`read_all` takes the plain lab result without components itself)."""
        panel = obs.component and obs.value_quantity is None and obs.data_absent_reason is None
        try:
            if panel and not isinstance(match, (DxaCode, str)) and self._components(obs):
                return  # a panel whose components carry the values (eGFR by race, ...)
            if isinstance(match, str):
                raise Ineligible(match)  # an excluded code, e.g. 1,25(OH)2D
            if isinstance(match, _Lab):
                self._lab_value(
                    obs, match, self._status(obs), obs.value_quantity, obs.data_absent_reason, obs
                )
            elif isinstance(match, DxaCode):
                self._dxa(obs, match)
        except Ineligible as why:
            self.ignored.append(Ignored(obs.ref, why.reason))

    def _match(self, concept: fm.CodeableConcept | None) -> Match | None:
        """What the first coding found in the code sets is (None: in no code set)."""
        if concept is None:
            return None
        codes = self._codes
        for coding in concept.coding:
            code = coding.code
            if code in codes:
                found = self._index.get((coding.system, code))
                if found is not None:
                    return found
        return None

    # ---- the shared eligibility checks (1.2 items 1, 2, 6) -----------------------------------
    @staticmethod
    def _status(obs: fm.Observation) -> str:
        status = obs.status or "missing"
        if status not in ELIGIBLE:
            raise Ineligible(f"status-{status}")
        return status

    @staticmethod
    def _quantity(value: fm.Quantity | None, absent: fm.CodeableConcept | None) -> tuple[fm.Quantity, float]:
        if absent is not None:
            raise Ineligible("data-absent")
        if value is None or value.value is None:
            raise Ineligible("no-value")
        return value, value.value

    @staticmethod
    def _factor(table: UnitTable, q: fm.Quantity) -> float:
        system = q.system
        code = q.code if system is None or system == UCUM else None  # a code is UCUM only in UCUM
        factor = factor_for(table, code, q.unit)
        if factor is None:
            raise Ineligible("unit-unrecognised")
        return factor

    @staticmethod
    def effective(obs: fm.Observation) -> datetime:
        """effectiveDateTime > effectivePeriod.end > effectivePeriod.start > issued (1.2 item 6)."""
        text = obs.effective_date_time
        if text is not None:  # the common case first
            return _parse("effectiveDateTime", text)
        period = obs.effective_period
        for name, text in (
            ("effectiveInstant", obs.effective_instant),
            ("effectivePeriod.end", period.end if period else None),
            ("effectivePeriod.start", period.start if period else None),
            ("issued", obs.issued),
        ):
            if text is not None:
                return _parse(name, text)
        raise Ineligible("no-effective-time")

    # ---- laboratory results ------------------------------------------------------------------
    def _components(self, obs: fm.Observation) -> bool:
        found = [(c, m) for c in obs.component if isinstance(m := self._match(c.code), _Lab)]
        if not found:
            return False
        status = self._status(obs)
        for component, lab in found:
            try:
                self._lab_value(
                    obs, lab, status, component.value_quantity, component.data_absent_reason, component
                )
            except Ineligible as why:
                self.ignored.append(Ignored(obs.ref, f"{why.reason} (component {lab.code.code})"))
        return True

    def _lab_value(
        self,
        obs: fm.Observation,
        lab: _Lab,
        status: str,
        value: fm.Quantity | None,
        absent: fm.CodeableConcept | None,
        holder: fm.Observation | fm.ObservationComponent,
    ) -> None:
        if absent is not None:  # `_quantity`, inlined
            raise Ineligible("data-absent")
        if value is None or value.value is None:
            raise Ineligible("no-value")
        q, reported = value, value.value
        table = lab.table
        system = q.system  # `_factor`, inlined, and its memo read before calling `factor_for`
        key = (q.code if system is None or system == UCUM else None, q.unit)
        factor = table.memo.get(key)
        if factor is None:
            factor = self._factor(table, q)
        comparator = q.comparator
        compared = reported if comparator is None else apply_comparator(reported, comparator, self._epsilon)
        canonical = compared * factor
        if not table.low <= canonical <= table.high:  # is_plausible, inlined
            raise Ineligible("implausible-value")
        text = obs.effective_date_time  # `effective`'s common case, inlined
        if text is None:
            effective = self.effective(obs)
        else:
            try:  # `_parse`, inlined
                effective = parse_datetime(text)
            except ValueError as exc:
                raise Ineligible(f"invalid-resource: Observation.effectiveDateTime: {exc}") from None
        ranges = holder.reference_range
        low, high = (
            lab_range(ranges, table, q, self.sex, self.birth_date, effective) if ranges else (None, None)
        )
        report = self.report_of.get(obs.ref)
        if report is None and obs.specimen is not None:
            report = obs.specimen.reference
        code = lab.code
        result = LabResult(
            obs.ref, lab.analyte, code.code, canonical, table.canonical, reported, q.unit or q.code or "",
            effective, status, None if obs.meta is None else _last_updated(obs.meta), comparator, low, high,
            report, _interpretation(holder.interpretation) if holder.interpretation else None, lab.rank,
        )  # fmt: skip
        self.labs.append(result)
        if code.race is not None:
            self.race[id(result)] = code.race

    # ---- DXA (2.2) ---------------------------------------------------------------------------
    def _dxa(self, obs: fm.Observation, dxa: DxaCode) -> None:
        self._status(obs)
        q, reported = self._quantity(obs.value_quantity, obs.data_absent_reason)
        table = BMD if dxa.kind == "BMD" else SCORE
        value = apply_comparator(reported, q.comparator, self.params.comparator_epsilon)
        value *= self._factor(table, q)
        if not is_plausible(table, value):
            raise Ineligible("implausible-value")
        effective = self.effective(obs)
        if dxa.kind == "BMD":
            self.events.append(DxaEvent(obs.ref, effective, "bmd"))
            return
        site = SITES[dxa.site]
        self.scores.append(
            DxaScore(
                reference=obs.ref, kind=dxa.kind, site=site, value=value, effective=effective,
                code=dxa.code, reported_unit=q.unit or q.code or "",
                radius_contradicted=site is DxaSite.RAD and self._contradicts_radius(obs.body_site),
            )
        )  # fmt: skip
        self.events.append(DxaEvent(obs.ref, effective, "score"))

    def _contradicts_radius(self, body_site: fm.CodeableConcept | None) -> bool:
        """A bodySite that is present and never names the forearm (Synthea's 38265-5 trap, 2.2)."""
        if body_site is None or not (body_site.coding or body_site.text):
            return False
        cs = self.codesets
        texts = [body_site.text or ""] + [c.display or "" for c in body_site.coding]
        if any(cs.confirms_radius(c.system, c.code, "") for c in body_site.coding):
            return False
        return not any(cs.confirms_radius(None, None, t) for t in texts if t)


def _parse(name: str, text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise Ineligible(f"invalid-resource: Observation.{name}: {exc}") from None


def _last_updated(meta: fm.Meta) -> datetime | None:
    if meta.last_updated is None:
        return None
    try:
        return parse_datetime(meta.last_updated)
    except ValueError:
        return None  # only a tie-breaker (1.2): a bad value is as good as none


def _interpretation(concepts: Sequence[fm.CodeableConcept]) -> str | None:
    for concept in concepts:
        for coding in concept.coding:
            if coding.code:
                return coding.code
        if concept.text:
            return concept.text
    return None

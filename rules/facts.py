"""Derived facts about one snapshot, computed once per evaluation and shared by every rule.

`Facts` wraps a `PatientSnapshot` with the derived states of RULES.md 3.3–3.6 (calcium state, eGFR,
CKD stage, osteoporosis status, bone context, therapy) and the medication-exposure conventions of 1.3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, pairwise
from operator import attrgetter
from typing import Any, Generic, TypeVar, overload

from rules.calcium_state import CalciumReading, CaState, classify, index_calcium
from rules.params import Parameters
from rules.ranges import range_for
from rules.snapshot import (
    CALCIUM_ANALYTES,
    Analyte,
    ConditionRecord,
    DxaScore,
    DxaSite,
    Hook,
    LabResult,
    MedicationExposure,
    PatientSnapshot,
)
from rules.windows import age_in_years, days_delta, merge_episodes, within_days

DIAGNOSTIC_SITES = frozenset({DxaSite.LS, DxaSite.TH, DxaSite.FN, DxaSite.RAD})


CKD_ORDER = ("G3a", "G3b", "G4", "G5", "G5D")

ORDER_INTENT_STATUSES = frozenset({"active"})
ENDED_STATUSES = frozenset({"completed", "stopped"})
DEFAULT_DOSING_INTERVAL_DAYS = 30.0


@dataclass(frozen=True, slots=True)
class Egfr:
    value: float
    effective: datetime
    source: tuple[LabResult, ...]  # the eGFR result, or the creatinine it was computed from
    computed: bool = False


def ckd_epi_2021(scr_mg_dl: float, age: int, sex: str) -> float | None:
    """CKD-EPI 2021 race-free creatinine equation (Inker et al., NEJM 2021); None when sex unknown."""
    if sex == "female":
        kappa, alpha, factor = 0.7, -0.241, 1.012
    elif sex == "male":
        kappa, alpha, factor = 0.9, -0.302, 1.0
    else:
        return None
    ratio = scr_mg_dl / kappa
    return float(142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age * factor)


_T = TypeVar("_T")


class cached_property(Generic[_T]):  # noqa: N801 - named after the functools one it stands for
    """`functools.cached_property` without its per-class lock (Python 3.11 takes it on every first
    access; Facts lives in one thread): computed on first access, then read from the instance."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached_property[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _T | cached_property[_T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


def _egfr_preference(r: LabResult) -> tuple[int, float]:
    return r.rank, r.value


def _preferred(draw: list[LabResult]) -> LabResult:
    """The eGFR of one draw: the preferred code (LabResult.rank), then the lowest value."""
    return draw[0] if len(draw) == 1 else min(draw, key=_egfr_preference)


def _latest_key(r: LabResult) -> tuple[datetime, int, float]:
    corrected = 1 if r.status in ("corrected", "amended") else 0
    updated = r.last_updated.timestamp() if r.last_updated else 0.0
    return r.effective, corrected, updated


_EFFECTIVE = attrgetter("effective")


def _sort_oldest_first(results: list[LabResult]) -> None:
    """Sort by `_latest_key`. Results rarely share a time: sorting by the time alone (cheap) gives
    the same order then; on a tie, the stable sort by the whole key finishes from there."""
    results.sort(key=_EFFECTIVE)
    for before, after in pairwise(results):
        if before.effective == after.effective:
            results.sort(key=_latest_key)
            return


class Facts:
    """The snapshot plus derived states; every property is computed at most once."""

    def __init__(self, snapshot: PatientSnapshot, params: Parameters) -> None:
        self.s = snapshot
        self.p = params
        self.at = snapshot.at
        self.hook = snapshot.hook
        self._egfr_memo: dict[float, list[Egfr]] = {}  # `_egfr_series` by window
        self._window_starts: dict[float, datetime] = {}  # `window_start` by window

    def window_start(self, days: float) -> datetime:
        """T − days, the start of the closed window `[T − days, T]` (rules ask for a few, many times)."""
        start = self._window_starts.get(days)
        if start is None:
            start = self._window_starts[days] = self.at - days_delta(days)
        return start

    # ---- patient -------------------------------------------------------------------------
    def age_at(self, t: datetime) -> int | None:
        if self.s.birth_date is None:
            return None
        return age_in_years(self.s.birth_date, t.date())

    @cached_property
    def age(self) -> int | None:
        return self.age_at(self.at)

    def age_at_least(self, years: int) -> bool:
        """Age-gated conditions are false when the age is unknown (RULES.md 1.1)."""
        return self.age is not None and self.age >= years

    def age_below(self, years: int) -> bool:
        return self.age is not None and self.age < years

    @property
    def is_female(self) -> bool:
        return self.s.sex == "female"

    @property
    def is_male(self) -> bool:
        return self.s.sex == "male"

    def postmenopausal_at(self, t: datetime) -> bool:
        """Proxy: female AND (age ≥ 50 OR an active menopause Condition) (1.1)."""
        if not self.is_female:
            return False
        age = self.age_at(t)
        return (age is not None and age >= self.p.age_postmenopausal) or self.has_condition("MENOPAUSE")

    # ---- labs ----------------------------------------------------------------------------
    @cached_property
    def _labs_by_analyte(self) -> dict[Analyte, list[LabResult]]:
        out: dict[Analyte, list[LabResult]] = {}
        at = self.at
        for lab in self.s.labs:
            if lab.effective <= at:
                group = out.get(lab.analyte)
                if group is None:
                    out[lab.analyte] = [lab]
                else:
                    group.append(lab)
        for results in out.values():
            if len(results) > 1:
                _sort_oldest_first(results)
        return out

    def labs(self, *analytes: Analyte, within: float | None = None) -> list[LabResult]:
        """Eligible results of these analytes (up to T), oldest first, optionally within `within` days."""
        by_analyte = self._labs_by_analyte
        found: Sequence[LabResult]
        if len(analytes) == 1:
            found = by_analyte.get(analytes[0], ())  # already in order
        else:
            groups = [group for analyte in analytes if (group := by_analyte.get(analyte))]
            found = groups[0] if len(groups) == 1 else sorted(chain(*groups), key=_latest_key)
        if within is None:
            return list(found)
        if not found:  # most patients have no result of most analytes
            return []
        at, start = self.at, self.window_start(within)
        return [r for r in found if start <= r.effective <= at]  # within_days, inlined; still in order

    def latest(self, *analytes: Analyte, within: float | None = None) -> LabResult | None:
        results = self.labs(*analytes, within=within)
        return results[-1] if results else None

    def paired(
        self, analyte: Analyte, center: datetime, days: float, *, until: datetime | None = None
    ) -> LabResult | None:
        """The result of `analyte` closest to `center` within ±days (and not after `until`, default T)."""
        limit = until or self.at
        delta = timedelta(days=days)
        near = [r for r in self.labs(analyte) if abs(r.effective - center) <= delta and r.effective <= limit]
        if not near:
            return None
        return min(near, key=lambda r: (abs(r.effective - center), -r.effective.timestamp()))

    def uln(self, result: LabResult) -> float | None:
        return range_for(result, self.p).high

    def lln(self, result: LabResult) -> float | None:
        return range_for(result, self.p).low

    # ---- calcium -------------------------------------------------------------------------
    @cached_property
    def _albumins(self) -> list[LabResult]:
        return self.labs(Analyte.ALBUMIN)

    def classify_calcium(self, result: LabResult) -> CalciumReading:
        return classify(result, self._albumins, self.p)

    @cached_property
    def calcium(self) -> CalciumReading | None:
        """The index calcium within CA_WINDOW (3.3); None = calcium state UNKNOWN."""
        window = self.labs(*CALCIUM_ANALYTES, within=self.p.ca_window_days)
        return index_calcium(window, self._albumins, self.p)

    @property
    def ca_high(self) -> bool:
        return self.calcium is not None and self.calcium.state is CaState.HIGH

    @property
    def ca_low(self) -> bool:
        return self.calcium is not None and self.calcium.state is CaState.LOW

    def calcium_readings(self, within: float | None = None) -> list[CalciumReading]:
        return [self.classify_calcium(r) for r in self.labs(*CALCIUM_ANALYTES, within=within)]

    def calcium_readings_near(self, center: datetime, days: float) -> list[CalciumReading]:
        delta = timedelta(days=days)
        return [
            self.classify_calcium(r)
            for r in self.labs(*CALCIUM_ANALYTES)
            if abs(r.effective - center) <= delta
        ]

    def any_calcium_high(self, within: float) -> bool:
        return any(c.state is CaState.HIGH for c in self.calcium_readings(within))

    # ---- kidney --------------------------------------------------------------------------
    def latest_egfr(self, within: float | None = None) -> Egfr | None:
        """Latest eGFR in the window (code preference within one draw), else CKD-EPI 2021 from creatinine."""
        series = self._egfr_series(self.p.egfr_window_days if within is None else within)
        return series[-1] if series else None

    def _egfr_series(self, within: float) -> list[Egfr]:
        """`_egfr_series_of`, computed once per window (several rules ask for the same one)."""
        series = self._egfr_memo.get(within)
        if series is None:
            series = self._egfr_memo[within] = self._egfr_series_of(within)
        return series

    def _egfr_series_of(self, within: float) -> list[Egfr]:
        """One eGFR per draw, oldest first: the measured ones (within a draw the preferred code,
        LabResult.rank from the code sets, then the lowest value), or when none is measured,
        CKD-EPI 2021 from each creatinine."""
        by_time: dict[datetime, list[LabResult]] = {}
        for r in self.labs(Analyte.EGFR, within=within):
            same = by_time.get(r.effective)
            if same is None:
                by_time[r.effective] = [r]
            else:
                same.append(r)
        if by_time:
            # `labs` is oldest first, so the draws were inserted in time order.
            return [
                Egfr(best.value, t, (best,)) for t, same in by_time.items() for best in [_preferred(same)]
            ]
        out: list[Egfr] = []
        for creat in self.labs(Analyte.CREAT, within=within):
            value = self._computed_egfr(creat)
            if value is not None:
                out.append(Egfr(value, creat.effective, (creat,), computed=True))
        return out

    def _computed_egfr(self, creat: LabResult) -> float | None:
        """CKD-EPI 2021 from a creatinine (None when the age or sex is unknown)."""
        age = self.age_at(creat.effective)
        return None if age is None else ckd_epi_2021(creat.value, age, self.s.sex)

    def _latest_egfr_of(self, within: float) -> tuple[float, datetime] | None:
        """(value, effective) of `_egfr_series(within)[-1]`, without building the series."""
        series = self._egfr_memo.get(within)
        if series is not None:
            return (series[-1].value, series[-1].effective) if series else None
        measured = self.labs(Analyte.EGFR, within=within)
        if measured:  # the latest draw: the results at the last time, in series order
            t = measured[-1].effective
            return _preferred([r for r in measured if r.effective == t]).value, t
        for creat in reversed(self.labs(Analyte.CREAT, within=within)):
            value = self._computed_egfr(creat)
            if value is not None:
                return value, creat.effective
        return None

    @cached_property
    def ckd_stage(self) -> str | None:
        """CKD stage of RULES.md 3.6: G5D, then two eGFRs < 60 ≥ 90 d apart, then a staged Condition."""
        if self.has_condition("DIALYSIS"):
            return "G5D"
        # The series is oldest first and up to T: a draw within 365 d means the latest one is.
        # Most patients' latest eGFR is ≥ 60 or old: the whole series is only built otherwise.
        latest = self._latest_egfr_of(730)
        limit = self.p.egfr_ckd
        if latest is not None and latest[1] >= self.window_start(365) and latest[0] < limit:
            series = self._egfr_series(730)
            before = latest[1] - timedelta(days=90)
            if any(e.value < limit and e.effective <= before for e in series):
                return _stage_for(latest[0])
        stages = [c.ckd_stage for c in self.conditions("CKD") if c.ckd_stage]
        return max(stages, key=CKD_ORDER.index) if stages else None

    def ckd_at_least(self, stage: str) -> bool:
        return self.ckd_stage is not None and CKD_ORDER.index(self.ckd_stage) >= CKD_ORDER.index(stage)

    # ---- conditions and procedures -------------------------------------------------------
    @cached_property
    def _conditions_by_set(self) -> dict[str, list[ConditionRecord]]:
        """Conditions by set name, in snapshot order (rules ask set by set, many times)."""
        out: dict[str, list[ConditionRecord]] = {}
        for c in self.s.conditions:
            for name in c.sets:
                out.setdefault(name, []).append(c)
        return out

    def conditions(self, code_set: str, *, active: bool = True) -> list[ConditionRecord]:
        found = self._conditions_by_set.get(code_set)
        if not found:  # most patients have none of a set: no comprehension to run
            return []
        return [c for c in found if c.active] if active else list(found)

    def has_condition(self, code_set: str, *, active: bool = True) -> bool:
        found = self._conditions_by_set.get(code_set)
        if not found:  # most patients have none of a set: no generator to start
            return False
        return any(c.active for c in found) if active else True

    def has_history(self, code_set: str) -> bool:
        """Any clinical status (history), including completed procedures of that set."""
        return self.has_condition(code_set, active=False) or any(
            code_set in p.sets for p in self.s.procedures
        )

    # ---- medications ---------------------------------------------------------------------
    def is_current(self, m: MedicationExposure) -> bool:
        if m.is_draft:
            return False
        if m.source == "administration":
            end = self.end_of(m)
            return end is not None and end >= self.at and (m.start is None or m.start <= self.at)
        return m.status == "active" and m.is_order

    def end_of(self, m: MedicationExposure) -> datetime | None:
        if m.source == "administration" and m.start is not None:
            interval = m.dosing_interval_days or DEFAULT_DOSING_INTERVAL_DAYS
            return m.start + timedelta(days=interval)
        return m.end

    def exposed_within(self, m: MedicationExposure, days: float) -> bool:
        """Current, or ended (completed/stopped) with end date ≥ T − days (1.3)."""
        if self.is_current(m):
            return True
        if m.is_draft:
            return False
        end = self.end_of(m)
        if end is None:
            return False
        ended = m.status in ENDED_STATUSES or m.source == "administration"
        return ended and end >= self.window_start(days) and (m.start is None or m.start <= self.at)

    @cached_property
    def _medications_by_class(self) -> dict[str, list[MedicationExposure]]:
        out: dict[str, list[MedicationExposure]] = {}
        for m in self.s.medications:
            for name in m.classes:
                out.setdefault(name, []).append(m)
        return out

    def medications(self, drug_class: str) -> list[MedicationExposure]:
        return list(self._medications_by_class.get(drug_class, ()))

    def exposures(self, drug_class: str, within: float) -> list[MedicationExposure]:
        found = self._medications_by_class.get(drug_class)
        if not found:  # most patients take nothing of a class: no comprehension to run
            return []
        return [m for m in found if self.exposed_within(m, within)]

    def current(self, drug_class: str) -> list[MedicationExposure]:
        found = self._medications_by_class.get(drug_class)
        if not found:
            return []
        return [m for m in found if self.is_current(m)]

    def has_ingredient_within(self, ingredient: str, within: float) -> bool:
        return any(ingredient in m.ingredients and self.exposed_within(m, within) for m in self.s.medications)

    @cached_property
    def drafts(self) -> list[MedicationExposure]:
        """Draft orders under evaluation: all of `draftOrders`, or only `selections` for order-select."""
        drafts = list(self.s.draft_orders)
        if self.hook is Hook.ORDER_SELECT and self.s.selections is not None:
            drafts = [d for d in drafts if d.reference in self.s.selections]
        return drafts

    def drafts_of(self, drug_class: str) -> list[MedicationExposure]:
        return [d for d in self.drafts if drug_class in d.classes]

    def interval(self, m: MedicationExposure) -> tuple[datetime, datetime] | None:
        """The exposure interval [start, end]; end = T while the medication is current."""
        if m.start is None or m.start > self.at:
            return None
        if self.is_current(m):
            return m.start, self.at
        end = self.end_of(m) or m.start
        return m.start, max(end, m.start)

    def episode_start(self, exposures: Iterable[MedicationExposure]) -> datetime | None:
        """Start S of the latest exposure episode, bridging gaps ≤ 30 days (1.3)."""
        intervals = [iv for m in exposures if (iv := self.interval(m)) is not None]
        episodes = merge_episodes(intervals, timedelta(days=self.p.episode_gap_days))
        return episodes[-1][0] if episodes else None

    # ---- bone ----------------------------------------------------------------------------
    @cached_property
    def latest_dxa(self) -> datetime | None:
        """DXA-on-record date: the latest DXA score, BMD, DXA report or DXA procedure (2.2)."""
        if not (self.s.dxa_events or self.s.dxa_scores):  # most patients
            return None
        times = [e.effective for e in self.s.dxa_events if e.effective <= self.at]
        times += [d.effective for d in self.s.dxa_scores if d.effective <= self.at]
        return max(times) if times else None

    def dxa_due_bound(self, episode_start: datetime | None) -> datetime:
        """max(S − 365 d, T − DXA_RECENT) (C4/C5): a DXA on or after it is recent enough; S = T for drafts."""
        s = episode_start or self.at
        return max(s - days_delta(365), self.window_start(self.p.dxa_recent_days))

    def dxa_due(self, episode_start: datetime | None) -> bool:
        """No DXA, or latest DXA < max(S − 365 d, T − 730 d) (C4/C5); S = T for drafts."""
        return self.latest_dxa is None or self.latest_dxa < self.dxa_due_bound(episode_start)

    def has_recent_dxa(self) -> bool:
        """A DXA on record within DXA_RECENT days (C7, C9, C10)."""
        return self.latest_dxa is not None and within_days(self.latest_dxa, self.at, self.p.dxa_recent_days)

    def t_score_population(self, score: DxaScore) -> bool:
        """T-scores count only when measured at ≥ 50 y or postmenopausal (3.6 (c))."""
        age = self.age_at(score.effective)
        return (age is not None and age >= self.p.age_postmenopausal) or self.postmenopausal_at(
            score.effective
        )

    def population_t_scores_at_or_below(self, threshold: float) -> list[DxaScore]:
        """The T-scores at or below `threshold` that count for the status (3.6 (c)), oldest first."""
        return [d for d in self.t_scores() if d.value <= threshold and self.t_score_population(d)]

    def t_scores(self, within: float | None = None) -> list[DxaScore]:
        if not self.s.dxa_scores:  # most patients
            return []
        return sorted(
            (
                d
                for d in self.s.dxa_scores
                if d.kind == "T"
                and d.site in DIAGNOSTIC_SITES
                and d.effective <= self.at
                and (within is None or within_days(d.effective, self.at, within))
            ),
            key=lambda d: d.effective,
        )

    @cached_property
    def osteoporosis_basis(self) -> str | None:
        """Why the patient has osteoporosis status (3.6), or None."""
        if self.has_condition("OSTEOPOROSIS", active=False):
            return "diagnosis on record"
        if self.has_condition("FRAGILITY_FX", active=False):
            return "fragility fracture"
        low = self.population_t_scores_at_or_below(self.p.t_osteo)
        if low:
            worst = min(low, key=lambda d: d.value)
            return f"T-score {worst.value:.1f} at {worst.site.value}"
        return None

    @property
    def osteoporosis(self) -> bool:
        return self.osteoporosis_basis is not None

    @cached_property
    def osteopenia(self) -> bool:
        if self.osteoporosis:
            return False
        if self.has_condition("OSTEOPENIA", active=False):
            return True
        return bool(self.population_t_scores_at_or_below(self.p.t_osteopenia))

    @cached_property
    def on_op_therapy(self) -> bool:
        """OP_THERAPY exposure within 365 d, or zoledronic acid within 1095 d (3.6)."""
        return bool(self.exposures("OP_THERAPY", self.p.op_therapy_days)) or (
            self.has_ingredient_within("zoledronic acid", self.p.zoledronic_days)
        )

    @cached_property
    def bone_context(self) -> bool:
        """Lowers the 25-OH D threshold to 30 ng/mL (3.6)."""
        return (
            self.osteoporosis
            or self.osteopenia
            or self.has_condition("PHPT")
            or self.has_condition("HYPOPARA")
            or self.ckd_at_least("G3a")
            or self.has_history("MALABSORPTION")
            or bool(self.current("OP_THERAPY"))
            or bool(self.drafts_of("OP_THERAPY"))
        )


def _stage_for(egfr: float) -> str | None:
    if egfr < 15:
        return "G5"
    if egfr < 30:
        return "G4"
    if egfr < 45:
        return "G3b"
    if egfr < 60:
        return "G3a"
    return None

"""C4 `gio-bone-assessment-due`: long-term systemic glucocorticoid and no recent DXA.

Glucocorticoid-induced osteoporosis is the commonest secondary osteoporosis; fracture risk rises
within months of starting even low doses. The 2022 ACR guideline asks for a bone assessment as soon
as possible after starting ≥ 2.5 mg/day prednisone-equivalent for more than 3 months, BMD within
6 months of starting and every 1–2 years while treatment continues.

On order-select/order-sign the draft order is judged (systemic route, daily PE ≥ `GC_DOSE`, planned
≥ `GC_DAYS`, or no stated duration while the patient already had ≥ 60 days of such exposure in the
last 90) and the card is a `warning`. On patient-view and batch the record is judged (≥ 90 distinct
days of the last 180 covered) and the card is `info`. Oral budesonide (no validated equivalence) and
unreadable doses count but cap the card at `info` on every hook (10.1 #11). The DXA is due when none
is on record or the latest is older than max(S − 365 d, T − 730 d), S = the episode start (a new
draft: S = T).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules import orderables
from rules.bone_density.dxa_due import (
    DxaDue,
    dxa_due,
    dxa_due_note,
    episode_start,
    latest_dxa_evidence,
)
from rules.bone_density.glucocorticoids import (
    GC_CLASS,
    coverage,
    daily_pe_mg,
    dose_class,
    gc_evidence,
    qualifying,
    uncertainty_notes,
)
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator
from rules.guidelines import ACR_GIOP_2022
from rules.params import Parameters
from rules.presentation import make_finding
from rules.rule import Rule
from rules.snapshot import MedicationExposure
from rules.windows import fmt_date, fmt_num

RULE_ID = "gio-bone-assessment-due"
FRAX_MIN_AGE = 40  # FRAX is not validated under 40 y (ACR 2022)


@dataclass(frozen=True, slots=True)
class Exposure:
    """Why the glucocorticoid exposure qualifies, and the records it rests on."""

    meds: tuple[MedicationExposure, ...]
    start: datetime | None  # episode start S
    uncertain: bool  # rests on oral budesonide or an unreadable dose: card capped at info
    why: str
    source: str  # "draft" | "record"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if facts.age_below(params.age_adult):
        return None
    if facts.hook.is_order_hook:
        exposure = _draft_exposure(facts, params)
    else:
        exposure = _recorded_exposure(facts, params)
    if exposure is None:
        return None
    due = dxa_due(facts, params, exposure.start)
    if due is None:
        return None
    return _finding(facts, params, exposure, due)


def _draft_exposure(facts: Facts, params: Parameters) -> Exposure | None:
    """The qualifying draft order, preferring one whose dose is certain (it earns the warning)."""
    found = [e for d in facts.drafts_of(GC_CLASS) if (e := _draft(facts, params, d)) is not None]
    found.sort(key=lambda e: e.uncertain)
    return found[0] if found else None


def _draft(facts: Facts, params: Parameters, draft: MedicationExposure) -> Exposure | None:
    if not qualifying(draft, params):
        return None
    uncertain = dose_class(draft, params).uncertain
    prior: tuple[MedicationExposure, ...] = ()
    if draft.planned_days is not None:
        if draft.planned_days < params.gc_days:
            return None
        duration = f"planned for {fmt_num(draft.planned_days)} days"
    else:
        # No stated duration: a continuation of recent exposure is taken as long-term.
        found = coverage(facts, params, lookback=params.gc_days, need=params.gc_unknown_duration_days)
        if found is None:
            return None
        prior, uncertain = found.meds, uncertain or found.uncertain
        duration = (
            f"no planned duration stated, and {found.days} of the last {params.gc_days} days "
            "were already covered by qualifying glucocorticoid"
        )
    pe = daily_pe_mg(draft)
    dose = f"{fmt_num(pe)} mg/day prednisone-equivalent" if pe is not None else "an uncertain dose"
    same_class = [m for m in facts.medications(GC_CLASS) if qualifying(m, params)]
    return Exposure(
        meds=(draft, *prior),
        start=episode_start(facts, same_class, with_draft=True),
        uncertain=uncertain,
        why=f"Draft order for systemic {draft.display} at {dose}, {duration}.",
        source="draft",
    )


def _recorded_exposure(facts: Facts, params: Parameters) -> Exposure | None:
    found = coverage(facts, params, lookback=params.gc_lookback_days, need=params.gc_days)
    if found is None:
        return None
    episode = [
        m
        for m in facts.medications(GC_CLASS)
        if qualifying(m, params) and (found.uncertain or not dose_class(m, params).uncertain)
    ]
    start = episode_start(facts, episode)
    return Exposure(
        meds=found.meds,
        start=start,
        uncertain=found.uncertain,
        why=(
            f"{found.days} of the last {params.gc_lookback_days} days are covered by systemic "
            f"glucocorticoid at ≥{fmt_num(params.gc_dose)} mg/day prednisone-equivalent"
            + (f"; the episode started {fmt_date(start)}." if start is not None else ".")
        ),
        source="record",
    )


def _finding(facts: Facts, params: Parameters, exposure: Exposure, due: DxaDue) -> Finding:
    warn = facts.hook.is_order_hook and not exposure.uncertain
    summary = (
        f"Glucocorticoid ≥{fmt_num(params.gc_dose)} mg/day prednisone-equivalent for "
        f"≥{params.gc_days // 30} months and no DXA in {due.interval}: assess bone health."
    )
    evidence: list[Evidence] = [
        gc_evidence(m, params, "Draft order" if m.is_draft else "Glucocorticoid") for m in exposure.meds
    ]
    if (dxa := latest_dxa_evidence(facts)) is not None:
        evidence.append(dxa)
    notes = [
        *uncertainty_notes(exposure.meds, params),
        dxa_due_note(due),
        "Order DXA with vertebral fracture assessment (or a spine radiograph).",
        _frax_note(facts),
        "Review calcium and vitamin D intake; consider osteoporosis therapy if fracture risk is "
        "moderate or high.",
    ]
    return make_finding(
        RULE_ID,
        Indicator.WARNING if warn else Indicator.INFO,
        summary,
        why=exposure.why,
        evidence=evidence,
        references=[ACR_GIOP_2022],
        suggestions=[orderables.DXA],
        notes=notes,
        data={
            "exposure": exposure.source,
            "dose": "uncertain" if exposure.uncertain else "certain",
            "episode_start": fmt_date(exposure.start or facts.at),
        },
    )


def _frax_note(facts: Facts) -> str:
    if facts.age_below(FRAX_MIN_AGE):
        return f"FRAX is not validated under {FRAX_MIN_AGE} years: judge fracture risk clinically."
    return "Estimate fracture risk with FRAX adjusted for glucocorticoid dose."


RULE = Rule(RULE_ID, "C4", evaluate)

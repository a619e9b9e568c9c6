"""Shared "DXA due" logic of the drug-driven bone-assessment rules (C4, C5) and DXA evidence (C4, C5, C7,
C9, C10).

A drug that causes bone loss makes a DXA due when none is on record, or when the latest one is older
than both a baseline taken up to a year before the exposure episode started and the usual 1–2-year
repeat interval: latest DXA < max(S − 365 d, T − `DXA_RECENT`) (RULES.md C4/C5). The episode start S
follows 1.3: the earliest start of overlapping or adjacent records of the same drug class, bridging
gaps of up to 30 days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.facts import Facts
from rules.findings import Evidence
from rules.params import Parameters
from rules.presentation import capitalised, dxa_evidence
from rules.snapshot import MedicationExposure
from rules.windows import fmt_date, merge_episodes

# Look-back that means "any time on record" for episode reconstruction.
_EVER_DAYS = 365 * 200
_DAYS_PER_MONTH = 30


@dataclass(frozen=True, slots=True)
class DxaDue:
    """A due DXA: the bound a DXA had to reach, the latest DXA (if any) and the summary wording."""

    bound: datetime  # a DXA on or after this instant would have been recent enough
    latest: datetime | None
    interval: str  # the `{interval}` placeholder: "the record", "2 years", "the last 12 months"


def describe_days(days: int) -> str:
    """ "2 years" for whole years, else "N months" (30-day months, rounded down so it stays true)."""
    if days % 365 == 0:
        years = days // 365
        return f"{years} year" if years == 1 else f"{years} years"
    return months(days)


def months(days: int) -> str:
    return f"{days // _DAYS_PER_MONTH} months"


def dxa_due(facts: Facts, params: Parameters, start: datetime | None) -> DxaDue | None:
    """The DXA-due state for an episode starting at `start` (None or a draft: S = T); None = not due."""
    if not facts.dxa_due(start):
        return None
    recent = facts.at - timedelta(days=params.dxa_recent_days)
    bound = facts.dxa_due_bound(start)
    latest = facts.latest_dxa
    if latest is None:
        interval = "the record"
    elif bound == recent:
        interval = describe_days(params.dxa_recent_days)
    else:
        interval = "the last " + months((facts.at - bound).days)
    return DxaDue(bound=bound, latest=latest, interval=interval)


def dxa_due_note(due: DxaDue) -> str:
    if due.latest is None:
        return "No DXA (score, BMD, report or procedure) is on record."
    return (
        f"Latest DXA on record {fmt_date(due.latest)} is older than {fmt_date(due.bound)}, "
        "the later of one year before the exposure started and the repeat interval."
    )


def latest_dxa_evidence(facts: Facts) -> Evidence | None:
    """The record behind the DXA-on-record date (2.2), for the card detail."""
    latest = facts.latest_dxa
    if latest is None:
        return None
    refs = sorted(
        {e.reference for e in facts.s.dxa_events if e.effective == latest}
        | {d.reference for d in facts.s.dxa_scores if d.effective == latest}
    )
    return Evidence(reference=refs[0], label="Latest DXA on record", effective=latest)


def latest_dxa_score_evidence(facts: Facts) -> list[Evidence]:
    """Every score of the DXA on record (2.2), else its events (report, procedure, BMD)."""
    t = facts.latest_dxa
    if t is None:
        return []
    rows = [dxa_evidence(d) for d in facts.s.dxa_scores if d.effective == t]
    if not rows:
        rows = [
            Evidence(reference=e.reference, label=f"DXA ({e.source})", effective=e.effective)
            for e in facts.s.dxa_events
            if e.effective == t
        ]
    return rows


def on_record(facts: Facts, m: MedicationExposure) -> bool:
    """Counts as exposure at some time: current, or ended with an end date (1.3); never drafts."""
    return facts.exposed_within(m, _EVER_DAYS)


def episode_start(
    facts: Facts, meds: Iterable[MedicationExposure], *, with_draft: bool = False
) -> datetime | None:
    """Start S of the latest episode of `meds` (1.3); a draft adds [T, T], so a new start gives S = T
    while a draft that continues a current or recent (gap ≤ 30 d) episode keeps that episode's S."""
    intervals = [iv for m in meds if on_record(facts, m) and (iv := facts.interval(m)) is not None]
    if with_draft:
        intervals.append((facts.at, facts.at))
    episodes = merge_episodes(intervals, timedelta(days=facts.p.episode_gap_days))
    return episodes[-1][0] if episodes else None


def ingredient_name(m: MedicationExposure) -> str:
    """All ingredient names for a summary, capitalised ("Anastrozole"); the display as a fallback."""
    return capitalised("/".join(sorted(m.ingredients)) or m.display)

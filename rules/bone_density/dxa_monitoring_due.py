"""C7 `dxa-monitoring-due`: on osteoporosis therapy without a DXA in the last two years.

AACE/ACE 2020 and the ISCD follow-up positions repeat DXA every 1–2 years on treatment until
stable. "On osteoporosis therapy" follows RULES.md 3.6 (OP_THERAPY within 365 days, zoledronic
acid within 1095 days). DXA-on-record is any DXA score, BMD, DXA report or DXA procedure (2.2); the
rule fires when there is none, or the latest is older than T − 730 days (a DXA exactly 730 days
old is still recent: windows are closed). This card is one of the specific DXA requests that
suppress the generic screening reminders (1.5, applied by the engine).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rules import orderables
from rules.bone_density.common import known_ingredient_name, therapy_evidence
from rules.bone_density.dxa_due import latest_dxa_score_evidence
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import AACE_2020, ISCD
from rules.params import Parameters
from rules.presentation import make_finding
from rules.rule import Rule
from rules.snapshot import MedicationExposure
from rules.windows import fmt_date

RULE_ID = "dxa-monitoring-due"

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def therapy_exposures(facts: Facts, params: Parameters) -> list[MedicationExposure]:
    """The exposures that make the patient 'on osteoporosis therapy' (3.6)."""
    found = facts.exposures("OP_THERAPY", params.op_therapy_days)
    found += [
        m
        for m in facts.s.medications
        if "zoledronic acid" in m.ingredients
        and m not in found
        and facts.exposed_within(m, params.zoledronic_days)
    ]
    return found


def _most_recent(facts: Facts, exposures: list[MedicationExposure]) -> MedicationExposure:
    """Current first, then the latest end; ties by the latest start."""

    def key(m: MedicationExposure) -> tuple[bool, datetime, datetime]:
        end = facts.at if facts.is_current(m) else (facts.end_of(m) or m.start or _EARLIEST)
        return facts.is_current(m), end, m.start or _EARLIEST

    return max(exposures, key=key)


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if not facts.on_op_therapy:
        return None
    if facts.has_recent_dxa():
        return None
    last = facts.latest_dxa
    exposures = therapy_exposures(facts, params)
    drug = known_ingredient_name(_most_recent(facts, exposures)) if exposures else "osteoporosis therapy"
    when = fmt_date(last) if last is not None else "never"
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        f"On {drug} with last DXA {when}: repeat bone density to monitor therapy.",
        why=(
            f"On osteoporosis therapy ({drug}) and "
            + (
                f"the latest DXA ({when}) is older than {params.dxa_recent_days} days."
                if last is not None
                else "no DXA is on record."
            )
        ),
        evidence=[*(therapy_evidence(m) for m in exposures), *latest_dxa_score_evidence(facts)],
        references=[AACE_2020, ISCD],
        suggestions=[orderables.DXA],
        notes=[
            "Use the same device and sites as the baseline DXA when possible.",
            "Review the duration of therapy (bisphosphonate drug-holiday assessment per local policy).",
        ],
    )


RULE = Rule(RULE_ID, "C7", evaluate)

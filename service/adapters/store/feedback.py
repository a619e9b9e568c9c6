"""CDS Hooks feedback in SQL: every outcome once, and the override rates that tune alert fatigue."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine, func, select

from service.adapters.store.engine import insert_ignoring_conflicts, writer
from service.adapters.store.models import FeedbackRow
from service.ports import Feedback, OverrideRate, ReasonCount

# The feedback item's identity: an EHR resending it (retry, replay) must not count twice.
_IDENTITY = ("card_uuid", "hook_instance", "outcome", "outcome_timestamp")


class SqlFeedbackStore:
    """FeedbackStore on SQLite or PostgreSQL (the engine of `make_engine`, migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    def record(self, feedback: Feedback) -> bool:
        reason = feedback.override_reason
        row = {
            "card_uuid": feedback.card_uuid,
            "service_id": feedback.service_id,
            "hook_instance": feedback.hook_instance,
            "rule_id": feedback.rule_id,
            "outcome": feedback.outcome,
            "outcome_timestamp": feedback.outcome_timestamp,
            "accepted_suggestions": list(feedback.accepted_suggestions),
            "reason_code": reason.code if reason else None,
            "reason_system": reason.system if reason else None,
            "reason_display": reason.display if reason else None,
            "user_comment": feedback.user_comment,
        }
        stmt = insert_ignoring_conflicts(self._engine, FeedbackRow, [row], _IDENTITY)
        stmt = stmt.returning(FeedbackRow.id)
        with self._writer.begin() as connection:
            return connection.execute(stmt).first() is not None

    def override_rates(self) -> tuple[OverrideRate, ...]:
        f = FeedbackRow
        stmt = select(
            f.rule_id, f.outcome, f.reason_code, f.reason_system, f.reason_display, func.count()
        ).group_by(f.rule_id, f.outcome, f.reason_code, f.reason_system, f.reason_display)
        accepted: dict[str, int] = defaultdict(int)
        overridden: dict[str, int] = defaultdict(int)
        reasons: dict[str, list[ReasonCount]] = defaultdict(list)
        with self._engine.connect() as connection:
            for rule_id, outcome, code, system, display, count in connection.execute(stmt):
                if outcome == "accepted":
                    accepted[rule_id] += count
                    continue
                overridden[rule_id] += count
                # Overrides without a reason are kept as an all-None reason: the counts add up.
                reasons[rule_id].append(ReasonCount(code, system, display, count))
        return tuple(
            OverrideRate(
                rule_id=rule_id,
                accepted=accepted[rule_id],
                overridden=overridden[rule_id],
                reasons=tuple(sorted(reasons[rule_id], key=_by_frequency)),
            )
            for rule_id in sorted(accepted.keys() | overridden.keys())
        )


def _by_frequency(reason: ReasonCount) -> tuple[int, str, str, str]:
    return (-reason.count, reason.code or "", reason.system or "", reason.display or "")

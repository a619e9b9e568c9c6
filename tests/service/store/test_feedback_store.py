"""FeedbackStore contract, on SQLite and PostgreSQL: each outcome once, override rates per rule."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from service.adapters.store import SqlFeedbackStore
from service.ports import Feedback, OverrideReason

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
REASON = OverrideReason("not-applicable", "https://osteoalert.example/override-reason", "Not applicable")


def feedback(
    card: str = "card-1",
    rule_id: str = "phpt-suspected",
    outcome: str = "accepted",
    at: datetime = T,
    reason: OverrideReason | None = None,
) -> Feedback:
    return Feedback(
        card_uuid=card,
        service_id="osteoalert-patient-view",
        hook_instance="hook-1",
        rule_id=rule_id,
        outcome="accepted" if outcome == "accepted" else "overridden",
        outcome_timestamp=at,
        accepted_suggestions=("sugg-1",) if outcome == "accepted" else (),
        override_reason=reason,
        user_comment="seen by endocrinology" if reason else None,
    )


def test_a_repeated_feedback_item_is_stored_once(engine: Engine) -> None:
    store = SqlFeedbackStore(engine)
    assert store.record(feedback()) is True
    assert store.record(feedback()) is False
    assert [r.total for r in store.override_rates()] == [1]


def test_the_same_instant_written_in_another_time_zone_is_the_same_item(engine: Engine) -> None:
    store = SqlFeedbackStore(engine)
    store.record(feedback(at=T))
    assert store.record(feedback(at=T.astimezone(timezone(timedelta(hours=1))))) is False


@pytest.mark.parametrize(
    "change",
    [
        {"card_uuid": "card-2"},
        {"hook_instance": "hook-2"},
        {"outcome_timestamp": T + timedelta(seconds=1)},
        {"outcome": "overridden", "accepted_suggestions": ()},
    ],
    ids=["another card", "another hook instance", "another timestamp", "another outcome"],
)
def test_items_differing_in_card_instance_outcome_or_timestamp_are_distinct(
    engine: Engine, change: dict[str, object]
) -> None:
    store = SqlFeedbackStore(engine)
    first = feedback()
    assert store.record(first)
    assert store.record(replace(first, **change))  # type: ignore[arg-type]


def test_a_burst_of_concurrent_repeats_stores_exactly_one_item(engine: Engine) -> None:
    store = SqlFeedbackStore(engine)
    with ThreadPoolExecutor(max_workers=8) as pool:
        stored = list(pool.map(lambda _: store.record(feedback()), range(16)))
    assert stored.count(True) == 1
    assert [r.total for r in store.override_rates()] == [1]


def test_override_rates_count_accepted_and_overridden_per_rule_with_reasons(engine: Engine) -> None:
    store = SqlFeedbackStore(engine)
    other = OverrideReason("patient-declined", "https://osteoalert.example/override-reason", None)
    items = [
        feedback("a1", "phpt-suspected", "accepted"),
        feedback("o1", "phpt-suspected", "overridden", reason=REASON),
        feedback("o2", "phpt-suspected", "overridden", reason=REASON),
        feedback("o3", "phpt-suspected", "overridden", reason=other),
        feedback("o4", "phpt-suspected", "overridden"),
        feedback("a2", "vitd-deficiency", "accepted"),
        feedback("o5", "hypocalcemia", "overridden", reason=other),
    ]
    for item in items:
        assert store.record(item)
    rates = {r.rule_id: r for r in store.override_rates()}
    assert list(rates) == ["hypocalcemia", "phpt-suspected", "vitd-deficiency"]
    phpt = rates["phpt-suspected"]
    assert (phpt.accepted, phpt.overridden, phpt.total, phpt.rate) == (1, 4, 5, 0.8)
    assert [(r.code, r.display, r.count) for r in phpt.reasons] == [
        ("not-applicable", "Not applicable", 2),
        (None, None, 1),  # overridden without a reason: kept, so the reasons add up to the overrides
        ("patient-declined", None, 1),
    ]
    assert (rates["vitd-deficiency"].rate, rates["vitd-deficiency"].reasons) == (0.0, ())
    assert (rates["hypocalcemia"].rate, rates["hypocalcemia"].total) == (1.0, 1)


def test_no_feedback_means_no_rates(engine: Engine) -> None:
    assert SqlFeedbackStore(engine).override_rates() == ()


def test_feedback_needs_a_known_outcome_and_an_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="outcome"):
        replace(feedback(), outcome="ignored")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone"):
        replace(feedback(), outcome_timestamp=datetime(2026, 1, 15, 12, 0))  # noqa: DTZ001

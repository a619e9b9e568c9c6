"""CardIndex contract on SQLite and PostgreSQL: card uuid → rule id, first record kept, writes skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete

from service.adapters.store import SqlCardIndex
from service.adapters.store.models import IssuedCardRow
from service.ports import IssuedCard

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def card(uid: str = "c1", rule_id: str = "phpt-suspected", hook_instance: str = "h1") -> IssuedCard:
    return IssuedCard(uid, rule_id, "osteoalert-patient-view", hook_instance)


def test_remembered_cards_are_found_by_uuid_and_unknown_uuids_are_absent(engine: Engine) -> None:
    index = SqlCardIndex(engine)
    index.remember([card("c1"), card("c2", "vitd-deficiency")], T)
    found = index.lookup(["c1", "c2", "nope"])
    assert {uid: c.rule_id for uid, c in found.items()} == {"c1": "phpt-suspected", "c2": "vitd-deficiency"}
    assert found["c1"] == card("c1")


def test_a_uuid_issued_again_keeps_its_first_hook_instance(engine: Engine) -> None:
    SqlCardIndex(engine).remember([card(hook_instance="first")], T)
    SqlCardIndex(engine).remember([card(hook_instance="second")], T + timedelta(minutes=5))
    assert SqlCardIndex(engine).lookup(["c1"])["c1"].hook_instance == "first"


def test_a_process_does_not_write_a_uuid_it_recorded_recently(engine: Engine) -> None:
    index = SqlCardIndex(engine)
    index.remember([card()], T)
    with engine.begin() as connection:  # the row disappears behind the index's back
        connection.execute(delete(IssuedCardRow))
    index.remember([card()], T)
    assert index.lookup(["c1"]) == {}
    SqlCardIndex(engine).remember([card()], T)  # another process writes it
    assert set(index.lookup(["c1"])) == {"c1"}


def test_the_memory_of_recent_uuids_is_bounded(engine: Engine) -> None:
    index = SqlCardIndex(engine, remembered=2)
    index.remember([card("a"), card("b"), card("c")], T)
    with engine.begin() as connection:
        connection.execute(delete(IssuedCardRow))
    index.remember([card("a"), card("b"), card("c")], T)  # "a" was forgotten: written again
    assert set(index.lookup(["a", "b", "c"])) == {"a"}


def test_lookup_of_many_uuids_is_chunked(engine: Engine) -> None:
    index = SqlCardIndex(engine)
    index.remember([card(f"u{i}") for i in range(1200)], T)
    assert len(index.lookup([f"u{i}" for i in range(1300)])) == 1200


def test_a_naive_time_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SqlCardIndex(engine).remember([card()], T.replace(tzinfo=None))

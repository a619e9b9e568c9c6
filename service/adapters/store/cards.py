"""Issued cards in SQL: card uuid → rule id, for attributing CDS Hooks feedback.

Card uuids are stable per (patient, rule, index data), so the same few uuids come back at every chart
opening: a per-process memory of recently recorded uuids keeps the hook path from writing them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from service.adapters.store.engine import insert_ignoring_conflicts, writer
from service.adapters.store.models import IssuedCardRow
from service.ports import IssuedCard

_LOOKUP_CHUNK = 500  # bound the IN (...) list whatever the size of one feedback request


class SqlCardIndex:
    """CardIndex on SQLite or PostgreSQL (the engine of `make_engine`, migrated to head)."""

    def __init__(self, engine: Engine, *, remembered: int = 65_536) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._capacity = remembered
        self._lock = threading.Lock()  # remember() runs in worker threads

    def pending(self, cards: Sequence[IssuedCard]) -> list[IssuedCard]:
        with self._lock:
            return [c for c in cards if c.card_uuid not in self._recent]

    def remember(self, cards: Sequence[IssuedCard], at: datetime) -> None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must be timezone-aware")
        new = {c.card_uuid: c for c in self.pending(cards)}
        if not new:
            return
        rows = [
            {
                "card_uuid": c.card_uuid,
                "rule_id": c.rule_id,
                "service_id": c.service_id,
                "hook_instance": c.hook_instance,
                "issued_at": at,
            }
            for c in sorted(new.values(), key=lambda c: c.card_uuid)  # key order: no deadlocks
        ]
        with self._writer.begin() as connection:
            connection.execute(insert_ignoring_conflicts(self._engine, IssuedCardRow, rows, ("card_uuid",)))
        with self._lock:
            for uid in new:
                self._recent[uid] = None
                self._recent.move_to_end(uid)
            while len(self._recent) > self._capacity:
                self._recent.popitem(last=False)

    def lookup(self, card_uuids: Sequence[str]) -> Mapping[str, IssuedCard]:
        wanted = list(dict.fromkeys(card_uuids))
        found: dict[str, IssuedCard] = {}
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                stmt = select(
                    IssuedCardRow.card_uuid,
                    IssuedCardRow.rule_id,
                    IssuedCardRow.service_id,
                    IssuedCardRow.hook_instance,
                ).where(IssuedCardRow.card_uuid.in_(chunk))
                for uid, rule_id, service_id, hook_instance in connection.execute(stmt):
                    found[uid] = IssuedCard(uid, rule_id, service_id, hook_instance)
        return found

"""The background path in SQL: subscription state and idempotent intake (claims + hand-off).

`accept` is the durable hand-off. In ONE transaction it claims the delivery keys of the work (a key
already claimed is a repeat: dropped) and hands the fresh work over: into the outbox table on the
embedded default, or to the broker (the `TaskQueue`) before the commit. A failed hand-off rolls the
claims back, so the EHR's retry is taken again; a crash after the publish but before the commit
re-publishes on retry (work is idempotent).

The hot path takes no lock shared between notifications: an event notification only inserts its
claim (subscription, event number, when). What we know of event traffic (count, highest number, last
arrival) is read from the claims; the subscription row is written only by the rare notifications
(handshake, heartbeat, ping, query-status), by `$status` checks, and by the gap checks, which also
move `contiguous_through`: the highest number such that every event up to it was received or
recovered. Numbers above it that were never claimed are the gaps that recovery fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Insert, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.adapters.store.engine import insert_ignoring_conflicts, writer
from service.adapters.store.models import NotifyClaimRow, NotifySubscriptionRow, OutboxRow
from service.ports import TaskQueue, WorkItem

_SCAN_LIMIT = 10_000  # claims read per gap scan; a bigger gap is recovered over several checks
_EVENT_PREFIX = "event:"
DELIVERED, RECOVERED = "delivered", "recovered"
# Notifications that update the subscription row (rare); event notifications only insert claims.
_ROW_KINDS = frozenset({"handshake", "heartbeat", "query-status", "ping"})


def event_key(subscription: str, number: int) -> str:
    """The delivery key of event `number` of `subscription` (same subscription + eventNumber → once)."""
    return f"{_EVENT_PREFIX}{subscription}#{number}"


def _parse_event_key(key: str) -> tuple[str | None, int | None]:
    if not key.startswith(_EVENT_PREFIX):
        return None, None
    subscription, _, number = key[len(_EVENT_PREFIX) :].rpartition("#")
    return (subscription, int(number)) if number.isdigit() and subscription else (None, None)


@dataclass(frozen=True, slots=True)
class Contact:
    """What one notification says about its Subscription."""

    subscription: str
    kind: str  # handshake | heartbeat | event-notification | query-status | query-event | ping
    topic: str | None = None
    status: str | None = None
    events_since_start: int | None = None
    event_numbers: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    subscription: str
    topic: str | None
    status: str | None
    heartbeat_seconds: int | None
    contiguous_through: int | None
    highest_seen: int | None  # highest event number received or recovered
    server_count: int | None  # the server's events-since-subscription-start (at least highest_seen)
    handshakes: int
    heartbeats: int
    events: int  # event deliveries within the dedup window
    last_contact_at: datetime  # any notification
    last_event_at: datetime | None  # last event delivery (or ping)
    last_heartbeat_at: datetime | None
    handshake_at: datetime | None
    status_checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Accepted:
    fresh: tuple[WorkItem, ...]  # handed over now
    repeats: int  # dropped: their key was already claimed


@dataclass(frozen=True, slots=True)
class Gap:
    """Event numbers to recover, and when the last event before them was received (None: unknown)."""

    numbers: tuple[int, ...]
    since: datetime | None


@dataclass(frozen=True, slots=True)
class _Traffic:
    events: int = 0
    highest: int | None = None
    last_delivered: datetime | None = None


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _state(row: NotifySubscriptionRow, traffic: _Traffic) -> SubscriptionState:
    highest = traffic.highest
    return SubscriptionState(
        subscription=row.subscription, topic=row.topic, status=row.status,
        heartbeat_seconds=row.heartbeat_seconds, contiguous_through=row.contiguous_through,
        highest_seen=highest,
        server_count=max(row.server_count or 0, highest or 0) if row.server_count or highest else None,
        handshakes=row.handshakes, heartbeats=row.heartbeats, events=traffic.events,
        last_contact_at=_latest(row.last_contact_at, traffic.last_delivered) or row.last_contact_at,
        last_event_at=_latest(row.last_event_at, traffic.last_delivered),
        last_heartbeat_at=row.last_heartbeat_at, handshake_at=row.handshake_at,
        status_checked_at=row.status_checked_at,
    )  # fmt: skip


def _record(row: NotifySubscriptionRow, contact: Contact, at: datetime) -> None:
    row.last_contact_at = max(row.last_contact_at, at)
    row.topic = contact.topic or row.topic
    row.status = contact.status or row.status
    count = contact.events_since_start
    if count is not None:
        row.server_count = max(row.server_count or 0, count)
    if contact.kind == "handshake":
        row.handshakes += 1
        row.handshake_at = at
    elif contact.kind == "heartbeat":
        row.heartbeats += 1
        row.last_heartbeat_at = at
    elif contact.kind == "ping":
        row.last_event_at = at
    if row.contiguous_through is None and count is not None:
        # What happened before we first heard of the subscription is not ours to recover.
        row.contiguous_through = count


def _outbox_row(item: WorkItem, at: datetime) -> dict[str, object]:
    return {
        "task": item.task, "kwargs": dict(item.kwargs), "key": item.key, "attempts": 0, "created_at": at,
        "available_at": at, "locked_until": None,
    }  # fmt: skip


def _claim_statement(engine: Engine) -> Insert:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING key, built once and run with parameters (the
    hot path: a statement rebuilt per call costs more than the database round trip)."""
    match engine.dialect.name:
        case "postgresql":
            return (
                pg_insert(NotifyClaimRow)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(NotifyClaimRow.key)
            )
        case "sqlite":
            return (
                sqlite_insert(NotifyClaimRow)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(NotifyClaimRow.key)
            )
        case other:
            raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {other}")


class SqlNotifyStore:
    """Subscription state and delivery claims (the engine of `make_engine`, migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._known: set[str] = set()  # subscriptions whose row exists (saves a statement per event)
        self._claim_stmt = _claim_statement(engine)
        self._outbox_stmt = insert(OutboxRow)

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- intake ---------------------------------------------------------------------------------------

    def accept(
        self, contact: Contact | None, items: Sequence[WorkItem], at: datetime, *, queue: TaskQueue | None
    ) -> Accepted:
        """Record `contact`, claim `items` and hand the fresh ones over, atomically.

        `queue` None: the work goes to the outbox table in the same transaction. Otherwise
        `queue.enqueue` runs before the commit; its `QueueUnavailableError` rolls everything back.
        A queue that runs the work inline (Celery in eager mode) is called after the commit instead:
        the work it runs writes to this database too, and must not wait for our own transaction.
        """
        inline = bool(getattr(queue, "inline", False))
        if contact is not None and contact.kind in _ROW_KINDS:  # rare: the subscription row, via the ORM
            with Session(self._writer) as session, session.begin():
                _record(self._locked_row(session, contact.subscription, at), contact, at)
                session.flush()
                fresh, repeats = self._hand_over(session.connection(), None, items, at, queue, inline)
        else:  # the hot path (events): Core only, no ORM unit of work
            with self._writer.begin() as connection:
                fresh, repeats = self._hand_over(connection, contact, items, at, queue, inline)
        if contact is not None:
            self._known.add(contact.subscription)  # only once committed
        if fresh and queue is not None and inline:
            queue.enqueue(fresh)
        return Accepted(tuple(fresh), repeats)

    def _hand_over(
        self, connection: Connection, contact: Contact | None, items: Sequence[WorkItem], at: datetime,
        queue: TaskQueue | None, inline: bool,
    ) -> tuple[list[WorkItem], int]:  # fmt: skip
        """Inside the transaction: the subscription skeleton (first contact), the claims, the hand-off."""
        if contact is not None and contact.subscription not in self._known:
            self._insert_row(connection, contact.subscription, at)
        fresh, repeats = self._claim(connection, items, at)
        if fresh and queue is None:
            connection.execute(self._outbox_stmt, [_outbox_row(item, at) for item in fresh])
        elif fresh and queue is not None and not inline:
            queue.enqueue(fresh)
        return fresh, repeats

    def _insert_row(self, connection: Connection | Session, subscription: str, at: datetime) -> None:
        skeleton = {
            "subscription": subscription, "handshakes": 0, "heartbeats": 0, "last_contact_at": at,
            "created_at": at,
        }  # fmt: skip
        connection.execute(
            insert_ignoring_conflicts(self._engine, NotifySubscriptionRow, [skeleton], ("subscription",))
        )

    def _locked_row(self, session: Session, subscription: str, at: datetime) -> NotifySubscriptionRow:
        self._insert_row(session, subscription, at)
        stmt = select(NotifySubscriptionRow).where(NotifySubscriptionRow.subscription == subscription)
        return session.scalars(stmt.with_for_update()).one()

    def _claim(
        self, connection: Connection, items: Sequence[WorkItem], at: datetime
    ) -> tuple[list[WorkItem], int]:
        keyed = sorted({item.key for item in items if item.key is not None})
        claimed: set[str] = set()
        if keyed:
            rows = [
                {"key": k, "subscription": s, "event_number": n, "source": DELIVERED, "claimed_at": at}
                for k in keyed  # key order: concurrent overlapping claims never deadlock
                for s, n in [_parse_event_key(k)]
            ]
            result = connection.execute(self._claim_stmt, rows)
            claimed = set(result.scalars())
        fresh: list[WorkItem] = []
        for item in items:
            if item.key is None:
                fresh.append(item)
            elif item.key in claimed:
                claimed.discard(item.key)  # a key twice in one notification: once
                fresh.append(item)
        return fresh, len(items) - len(fresh)

    # --- subscriptions --------------------------------------------------------------------------------

    def _traffic(self, session: Session, subscription: str | None = None) -> dict[str, _Traffic]:
        delivered = NotifyClaimRow.source == DELIVERED
        stmt = (
            select(
                NotifyClaimRow.subscription,
                func.count().filter(delivered),
                func.max(NotifyClaimRow.event_number),
                func.max(NotifyClaimRow.claimed_at).filter(delivered),
            )
            .where(NotifyClaimRow.subscription.is_not(None))
            .group_by(NotifyClaimRow.subscription)
        )
        if subscription is not None:
            stmt = stmt.where(NotifyClaimRow.subscription == subscription)
        return {s: _Traffic(n or 0, h, t) for s, n, h, t in session.execute(stmt).all() if s is not None}

    def subscriptions(self) -> tuple[SubscriptionState, ...]:
        stmt = select(NotifySubscriptionRow).order_by(NotifySubscriptionRow.subscription)
        with Session(self._engine) as session:
            traffic = self._traffic(session)
            return tuple(_state(r, traffic.get(r.subscription, _Traffic())) for r in session.scalars(stmt))

    def subscription(self, subscription: str) -> SubscriptionState | None:
        with Session(self._engine) as session:
            row = session.get(NotifySubscriptionRow, subscription)
            if row is None:
                return None
            return _state(row, self._traffic(session, subscription).get(subscription, _Traffic()))

    def _advance(self, session: Session, row: NotifySubscriptionRow) -> None:
        """Move `contiguous_through` over the numbers claimed since (first: just below the lowest)."""
        if row.contiguous_through is None:
            lowest = session.scalar(
                select(func.min(NotifyClaimRow.event_number)).where(
                    NotifyClaimRow.subscription == row.subscription
                )
            )
            if lowest is None:
                return
            row.contiguous_through = lowest - 1  # before we heard of it: not ours to recover
        stmt = (
            select(NotifyClaimRow.event_number)
            .where(
                NotifyClaimRow.subscription == row.subscription,
                NotifyClaimRow.event_number > row.contiguous_through,
            )
            .order_by(NotifyClaimRow.event_number)
            .limit(_SCAN_LIMIT)
        )
        through = row.contiguous_through
        for number in session.scalars(stmt):
            if number is None or number > through + 1:
                break
            through = number
        row.contiguous_through = through

    def gaps(self, subscription: str, *, now: datetime, grace: timedelta) -> Gap:
        """Event numbers never received nor recovered, missing for longer than `grace`."""
        with Session(self._writer) as session, session.begin():
            row = session.get(NotifySubscriptionRow, subscription, with_for_update=True)
            if row is None:
                return Gap((), None)
            self._advance(session, row)
            if row.contiguous_through is None:
                return Gap((), None)
            through = row.contiguous_through
            claims = session.execute(
                select(NotifyClaimRow.event_number, NotifyClaimRow.claimed_at)
                .where(NotifyClaimRow.subscription == subscription, NotifyClaimRow.event_number > through)
                .order_by(NotifyClaimRow.event_number)
                .limit(_SCAN_LIMIT)
            ).all()
            before = session.scalar(
                select(func.max(NotifyClaimRow.claimed_at)).where(
                    NotifyClaimRow.subscription == subscription, NotifyClaimRow.event_number <= through
                )
            )
            state = _state(row, self._traffic(session, subscription).get(subscription, _Traffic()))
        missing: list[int] = []
        expected = through + 1
        for number, claimed_at in claims:  # a hole below a received event: noticed when that arrived
            if number is not None:
                if claimed_at <= now - grace:
                    missing.extend(range(expected, number))
                expected = number + 1
        told = _latest(state.last_heartbeat_at, state.status_checked_at, state.last_contact_at)
        if told is not None and told <= now - grace:  # the server counted events we never received
            missing.extend(range(expected, (state.server_count or 0) + 1))
        return Gap(tuple(missing[:_SCAN_LIMIT]), before)

    def mark_recovered(self, subscription: str, numbers: Sequence[int], at: datetime) -> None:
        """Claim recovered event numbers (a late delivery of one is then a repeat) and advance."""
        if not numbers:
            return
        rows = [
            {"key": event_key(subscription, n), "subscription": subscription, "event_number": n,
             "source": RECOVERED, "claimed_at": at}
            for n in sorted(set(numbers))
        ]  # fmt: skip
        with Session(self._writer) as session, session.begin():
            session.execute(insert_ignoring_conflicts(self._engine, NotifyClaimRow, rows, ("key",)))
            row = session.get(NotifySubscriptionRow, subscription, with_for_update=True)
            if row is not None:
                self._advance(session, row)

    def last_event_at(self, subscription: str) -> datetime | None:
        """When the last event (or ping) of `subscription` arrived: recovery searches from there."""
        state = self.subscription(subscription)
        return None if state is None else state.last_event_at

    def record_status(
        self, subscription: str, *, status: str | None, events_since_start: int | None, at: datetime
    ) -> None:
        """What Subscription/{id}/$status said (the silence check)."""
        with Session(self._writer) as session, session.begin():
            row = self._locked_row(session, subscription, at)
            row.status = status or row.status
            row.status_checked_at = at
            if events_since_start is not None:
                row.server_count = max(row.server_count or 0, events_since_start)
                if row.contiguous_through is None:
                    self._advance(session, row)
                    if row.contiguous_through is None:
                        row.contiguous_through = events_since_start

    def prune_claims(self, before: datetime) -> int:
        """Forget delivery keys older than `before` (the dedup window), keeping those gaps still need."""
        with self._writer.begin() as connection:
            watermarks = select(NotifySubscriptionRow.contiguous_through).where(
                NotifySubscriptionRow.subscription == NotifyClaimRow.subscription
            )
            stmt = delete(NotifyClaimRow).where(
                NotifyClaimRow.claimed_at < before,
                (NotifyClaimRow.event_number.is_(None))
                | (NotifyClaimRow.event_number <= watermarks.scalar_subquery()),
            )
            return connection.execute(stmt).rowcount

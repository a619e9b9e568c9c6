"""The notification intake: read a notification, decide the background work, hand it over durably.

`Intake.receive` is what POST /fhir/notify does, synchronously (the route runs it in a worker thread):
parse and validate the body; record what it says about its Subscription (handshakes and heartbeats
are recorded, never evaluated); turn its events into work items carrying ids only; and hand them over
through `SqlNotifyStore.accept` (claims + outbox or broker, one transaction). It returns only once
the work is durably enqueued, and raises `QueueUnavailableError` (503) when it cannot be: never
after rules run, never 2xx-and-drop.

Work per notification (task names are the Celery task names; `key` dedups redeliveries):

| notification                              | work                                                    |
|-------------------------------------------|---------------------------------------------------------|
| handshake, heartbeat, query-status        | none (recorded)                                         |
| event, full-resource / Patient focus      | evaluate_patient(patient), key event:<sub>#<n>          |
| event, id-only                            | evaluate_patient(focus): the worker reads the focus     |
| event, empty                              | recover_events(sub, n, n): $events, else a search       |
| R4 ping (empty POST)                      | recover_events(sub?, since last ping): search           |
| R4 resource POST/PUT                      | evaluate_patient(patient), key version:<ref>/_history/v |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.adapters.notifications import Notification, NotificationEvent, parse_notification
from service.adapters.notify_store import Accepted, Contact, SqlNotifyStore, event_key
from service.observability.metrics import Metrics
from service.ports import TaskQueue, WorkItem

logger = logging.getLogger(__name__)

TASK_EVALUATE_PATIENT = "osteoalert.evaluate_patient"
TASK_RECOVER_EVENTS = "osteoalert.recover_events"
TASK_CHECK_SUBSCRIPTIONS = "osteoalert.check_subscriptions"
# State row of plain R4 pings that name no Subscription (remembers when the last ping came).
PING_SUBSCRIPTION = "rest-hook"
# Searches "since the last event" start this much earlier: clocks differ, and indexing lags.
SEARCH_SKEW = timedelta(minutes=5)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Receipt:
    kind: str
    subscription: str | None
    accepted: int  # work items handed over
    repeats: int  # work items dropped as redeliveries
    content: str | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "accepted": self.accepted, "repeats": self.repeats}
        if self.subscription:
            body["subscription"] = self.subscription
        if self.content:
            body["content"] = self.content
        if self.notes:
            body["notes"] = list(self.notes)
        return body


def contact_of(n: Notification, hint: str | None) -> Contact | None:
    """What the notification tells about its Subscription (None: it names none)."""
    if n.kind == "ping":
        return Contact(hint or PING_SUBSCRIPTION, "ping")
    subscription = n.subscription or hint
    if subscription is None:
        return None
    return Contact(
        subscription=subscription,
        kind=n.kind,
        topic=n.topic,
        status=n.status,
        events_since_start=n.events_since_start,
        event_numbers=tuple(e.number for e in n.events if e.number is not None),
    )


def _version_key(event: NotificationEvent) -> str | None:
    if event.focus and event.focus_version:
        return f"version:{event.focus}/_history/{event.focus_version}"
    return None


def evaluation_item(event: NotificationEvent, key: str | None = None) -> WorkItem | None:
    """Evaluate the event's Patient: by id when the notification names it, else through its focus."""
    if event.patient:
        return WorkItem(TASK_EVALUATE_PATIENT, {"patient": event.patient}, key)
    if event.focus and not event.included:  # a resource we were sent about no Patient: nothing to do
        return WorkItem(TASK_EVALUATE_PATIENT, {"focus": event.focus}, key)
    return None


def needs_history(n: Notification) -> bool:
    """Pings and empty-payload events ask for a search since the previous event."""
    return n.kind == "ping" or (n.evaluates and any(e.focus is None and e.patient is None for e in n.events))


def work_for(
    n: Notification, *, last_event_at: datetime | None, at: datetime, lookback: timedelta,
    hint: str | None = None,
) -> list[WorkItem]:  # fmt: skip
    """The background work a notification asks for (ids only)."""
    since = iso((last_event_at or at - lookback) - SEARCH_SKEW)
    if n.kind == "ping":
        return [WorkItem(TASK_RECOVER_EVENTS, {"subscription": hint, "since": since})]
    if not n.evaluates:
        return []
    items: list[WorkItem] = []
    subscription = n.subscription or hint
    for event in n.events:
        key = _version_key(event)
        if subscription is not None and event.number is not None:
            key = event_key(subscription, event.number)
        item = evaluation_item(event, key)
        if item is None and event.focus is None and subscription is not None:  # empty: ask the server
            first = event.number
            item = WorkItem(
                TASK_RECOVER_EVENTS,
                {"subscription": subscription, "first": first, "last": first, "since": since},
                key,
            )
        if item is not None:
            items.append(item)
    return items


class Intake:
    """Notifications in, durable work out (see the module docstring)."""

    def __init__(
        self,
        store: SqlNotifyStore,
        queue: TaskQueue | None,
        *,
        clock: Callable[[], datetime],
        lookback: timedelta,
        on_accept: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self._metrics = metrics  # notifications by kind and outcome
        self._queue = queue  # None: the SQL outbox of `store`
        self._clock = clock
        self._lookback = lookback
        self._on_accept = on_accept

    def now(self) -> datetime:
        """The wall clock of claims, subscription state and retries."""
        return self._clock()

    def receive(
        self,
        body: bytes,
        *,
        content_type: str | None,
        path_type: str | None = None,
        path_id: str | None = None,
        subscription_hint: str | None = None,
    ) -> Receipt:
        """Accept one notification; `NotificationError` (400/415) or `QueueUnavailableError` (503)."""
        n = parse_notification(body, content_type=content_type, path_type=path_type, path_id=path_id)
        at = self._clock()
        contact = contact_of(n, subscription_hint)
        last = self.store.last_event_at(contact.subscription) if contact and needs_history(n) else None
        items = work_for(n, last_event_at=last, at=at, lookback=self._lookback, hint=subscription_hint)
        accepted = self.store.accept(contact, items, at, queue=self._queue)
        self._accepted(accepted)
        if self._metrics is not None:
            outcome = "accepted" if accepted.fresh else "repeat" if accepted.repeats else "recorded"
            self._metrics.notification(n.kind, outcome)
        for note in n.notes:
            logger.warning("notification of %s: %s", n.subscription or "-", note)
        logger.info(
            "notification %s of %s (%s): %s accepted, %s repeats",
            n.kind, n.subscription or subscription_hint or "-", n.content or "-",
            len(accepted.fresh), accepted.repeats,
        )  # fmt: skip
        return Receipt(
            n.kind,
            n.subscription or subscription_hint,
            len(accepted.fresh),
            accepted.repeats,
            n.content,
            n.notes,
        )

    def submit(self, items: Sequence[WorkItem]) -> Accepted:
        """Hand over work found by recovery (same claims, same durability)."""
        accepted = self.store.accept(None, items, self._clock(), queue=self._queue)
        self._accepted(accepted)
        return accepted

    def _accepted(self, accepted: Accepted) -> None:
        if accepted.fresh and self._on_accept is not None:
            self._on_accept()

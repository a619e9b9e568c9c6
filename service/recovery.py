"""Never lose an event: recover what the EHR's notifications did not bring.

* `recover_events`: the events of an empty-payload notification, of an R4 ping, or of a gap in a
  subscription's event numbers. First the Backport IG's `Subscription/{id}/$events` (id-only) where
  the server has it; else a search by the Subscription's criteria (its backport filter criteria or R4
  `criteria`, or our own Observation codes) with `_lastUpdated` since the last event seen before the
  gap. Every Patient found gets an `evaluate_patient` work item, handed over like a notification's.
* `check_subscriptions` (Celery beat, and the embedded dispatcher's timer): a subscription silent for
  longer than its heartbeat period gets a `$status` check (its events-since-subscription-start reveals
  events we never received; a status of error/off is recorded as a failure); event numbers missing
  for longer than the grace period become `recover_events` work; old delivery keys are pruned.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_context import ContextPlan, absolute
from service.adapters.notifications import (
    NotificationError,
    parse_notification,
    parse_status_result,
    patient_of,
)
from service.adapters.notify_store import SubscriptionState
from service.evaluation import Background
from service.notify import (
    SEARCH_SKEW,
    TASK_EVALUATE_PATIENT,
    TASK_RECOVER_EVENTS,
    Intake,
    evaluation_item,
    iso,
)
from service.ports import BackgroundFailure, FailureLog, WorkItem

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# Statuses meaning "this server has no $events" (or not for these arguments): fall back to a search.
EVENTS_UNSUPPORTED = frozenset({400, 404, 405, 422, 501})
CLAIM_RETENTION = timedelta(days=7)
FILTER_CRITERIA = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria"
_SEARCH = re.compile(r"[A-Z][A-Za-z]+(\?\S*)?")
_BAD_STATUSES = frozenset({"error", "off", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    heartbeat: timedelta  # assumed heartbeat period of a subscription
    grace: timedelta  # a missing event number is a gap only after this long
    lookback: timedelta  # search window when no earlier event is known


@dataclass(frozen=True, slots=True)
class CheckReport:
    status_checks: int
    recovered_events: int


def _patients(pages: Iterable[bytes]) -> list[str]:
    found: dict[str, None] = {}
    for page in pages:
        data: Any = orjson.loads(page)
        for entry in data.get("entry") or () if isinstance(data, dict) else ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            patient = patient_of(resource) if isinstance(resource, dict) else None
            if patient is not None:
                found[patient] = None
    return list(found)


async def _criteria(client: FhirClient, subscription: str | None, plan: ContextPlan) -> str:
    """The search that finds what a subscription notifies about (ours by default)."""
    default = f"Observation?code={','.join((*plan.lab_tokens, *plan.dxa_tokens))}"
    if not subscription or not subscription.startswith("Subscription/"):
        return default
    try:
        resource: Any = orjson.loads(await client.get(subscription))
    except FhirClientError as exc:
        if exc.transient:
            raise
        return default
    except orjson.JSONDecodeError:
        return default
    if not isinstance(resource, dict):
        return default
    extensions = (resource.get("_criteria") or {}).get("extension") or ()
    candidates = [
        e.get("valueString") for e in extensions if isinstance(e, dict) and e.get("url") == FILTER_CRITERIA
    ]
    candidates.append(resource.get("criteria"))
    for candidate in candidates:
        if isinstance(candidate, str) and _SEARCH.fullmatch(candidate):
            return candidate
    return default


async def _events(client: FhirClient, subscription: str, first: int, last: int) -> list[WorkItem] | None:
    """The events' work through $events; None when the server cannot say (then: a search)."""
    sid = subscription.removeprefix("Subscription/")
    query = f"Subscription/{sid}/$events?eventsSinceNumber={first}&eventsUntilNumber={last}&content=id-only"
    try:
        body = await client.get(query)
    except FhirClientError as exc:
        if exc.status in EVENTS_UNSUPPORTED:
            return None
        raise
    try:
        answer = parse_notification(body, content_type=FHIR_JSON)
    except NotificationError as exc:
        logger.warning("%s $events: unreadable answer (%s); searching instead", subscription, exc)
        return None
    items = [item for e in answer.events if (item := evaluation_item(e)) is not None]
    return items or None


async def recover_events(
    bg: Background,
    intake: Intake,
    *,
    subscription: str | None,
    first: int | None = None,
    last: int | None = None,
    since: str | None = None,
) -> int:
    """Find what happened ($events, else a search) and hand over its work; the items handed over."""
    since = since or iso(intake.now() - timedelta(days=1) - SEARCH_SKEW)
    async with bg.connection().session() as client:
        items = None
        if subscription and subscription.startswith("Subscription/") and first is not None:
            items = await _events(client, subscription, first, last if last is not None else first)
        if items is None:
            criteria = await _criteria(client, subscription, bg.plan)
            sep = "&" if "?" in criteria else "?"
            pages = await client.search(absolute(client, f"{criteria}{sep}_lastUpdated=ge{since}"))
            items = [WorkItem(TASK_EVALUATE_PATIENT, {"patient": p}) for p in _patients(pages)]
    accepted = await asyncio.to_thread(intake.submit, items)
    logger.info("recovery of %s: %s patients to evaluate", subscription or "pings", len(accepted.fresh))
    return len(accepted.fresh)


def _ranges(numbers: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _silent(state: SubscriptionState, now: datetime, policy: RecoveryPolicy) -> bool:
    period = timedelta(seconds=state.heartbeat_seconds) if state.heartbeat_seconds else policy.heartbeat
    quiet = state.last_contact_at < now - period - policy.grace
    checked = state.status_checked_at is not None and state.status_checked_at >= now - period
    return quiet and not checked


async def _check_status(bg: Background, intake: Intake, failures: FailureLog, subscription: str) -> None:
    now = intake.now()
    sid = subscription.removeprefix("Subscription/")
    try:
        async with bg.connection().session() as client:
            status = parse_status_result(await client.get(f"Subscription/{sid}/$status"))
    except FhirClientError as exc:
        if exc.transient:
            logger.warning("%s $status: %s; next round retries", subscription, exc)
            return
        reason = f"$status failed: {exc}"
    except NotificationError as exc:
        reason = f"$status unreadable: {exc}"
    else:
        await asyncio.to_thread(
            intake.store.record_status,
            subscription, status=status.status, events_since_start=status.events_since_start, at=now,
        )  # fmt: skip
        if status.status not in _BAD_STATUSES:
            return
        reason = f"the FHIR server reports the subscription {status.status}"
    logger.error("%s: %s", subscription, reason)
    await asyncio.to_thread(
        intake.store.record_status, subscription, status=None, events_since_start=None, at=now
    )
    failure = BackgroundFailure("osteoalert.check_subscriptions", subscription, reason, 1, now)
    await asyncio.to_thread(failures.record_failure, failure)


async def check_subscriptions(
    bg: Background, intake: Intake, *, policy: RecoveryPolicy, failures: FailureLog
) -> CheckReport:
    """One round of silence and gap checks over every known Subscription."""
    now = intake.now()
    store = intake.store
    checks = recovered = 0
    for state in await asyncio.to_thread(store.subscriptions):
        subscription = state.subscription
        if not subscription.startswith("Subscription/"):
            continue
        if bg.fhir is not None and _silent(state, now, policy):
            await _check_status(bg, intake, failures, subscription)
            checks += 1
        gap = await asyncio.to_thread(store.gaps, subscription, now=now, grace=policy.grace)
        if not gap.numbers:
            continue
        since = iso((gap.since or now - policy.lookback) - SEARCH_SKEW)
        items = [
            WorkItem(
                TASK_RECOVER_EVENTS,
                {"subscription": subscription, "first": a, "last": b, "since": since},
                key=f"recover:{subscription}#{a}-{b}",
            )
            for a, b in _ranges(gap.numbers)
        ]
        await asyncio.to_thread(intake.submit, items)
        await asyncio.to_thread(store.mark_recovered, subscription, gap.numbers, now)
        logger.warning("%s: events %s missing; recovery queued", subscription, _ranges(gap.numbers))
        recovered += len(gap.numbers)
    await asyncio.to_thread(store.prune_claims, now - CLAIM_RETENTION)
    return CheckReport(checks, recovered)

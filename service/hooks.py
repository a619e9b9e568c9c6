"""CDS Hooks use cases: answer a hook call, record feedback, report override rates.

The HTTP layer (service.api) only moves bytes in and out; everything a call does is here, in order:
parse and validate the raw body, complete the prefetch from the EHR's fhirServer, evaluate through
the one rule engine (synchronously, in the request), add the findings stored by background
evaluation (patient-view), build the cards, and remember which rule each card uuid stands for (CDS
Hooks feedback names only the card). Blocking store calls run in a worker thread.

Logs carry service ids, hook instances, rule ids, counts and timings: never tokens or patient data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from rules import Finding, Hook
from service.adapters.cds_cards import result_to_cards
from service.adapters.cds_discovery import SERVICE_IDS
from service.adapters.cds_request import parse_feedback, parse_hook_request
from service.adapters.prefetch import gather_patient_data
from service.adapters.stored_alerts import stored_alert_to_finding
from service.evaluation import Engine, evaluate_for_hook
from service.observability.metrics import Metrics
from service.ports import AlertStore, CardIndex, FeedbackStore, IssuedCard, OverrideRate

logger = logging.getLogger(__name__)


class UnknownCardsError(ValueError):
    """Feedback about cards this service never returned: their rule cannot be told (400)."""

    def __init__(self, uuids: Sequence[str]) -> None:
        self.uuids = tuple(uuids)
        shown = ", ".join(self.uuids[:5]) + (f" (+{len(self.uuids) - 5} more)" if len(self.uuids) > 5 else "")
        super().__init__(f"feedback names cards this service did not return: {shown}")


def _loggable(text: str) -> str:
    """A caller-chosen value fit for one log line: short, printable (no forged lines)."""
    return "".join(c if c.isprintable() else "?" for c in text[:64])


def _settle(task: asyncio.Future[list[Finding]] | None) -> None:
    """A side task the call no longer needs: cancelled, or its outcome collected (never left dangling)."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


@dataclass(frozen=True, slots=True)
class FeedbackReceipt:
    received: int
    stored: int  # the others were repeats of feedback already stored

    def to_json(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored, "repeats": self.received - self.stored}


@dataclass(frozen=True, slots=True)
class CdsHooks:
    """The CDS Hooks service with its dependencies (built once, in `service.main.create_app`)."""

    engine: Engine
    templates: Mapping[str, str]  # prefetch key → template (the discovery document's)
    alerts: AlertStore
    cards: CardIndex
    feedback: FeedbackStore
    http: httpx.AsyncClient
    fetch_deadline: float
    clock: Callable[[], datetime]
    metrics: Metrics | None = None  # cards by rule and indicator, feedback by rule and outcome
    local_store: bool = False  # SQLite (WAL): read stored alerts on the event loop, not in a thread

    async def call(self, service_id: str, body: bytes) -> dict[str, Any]:
        """`{"cards": [...]}` for one hook call to `service_id` (a key of SERVICE_IDS)."""
        started = time.perf_counter()
        hook = SERVICE_IDS[service_id]
        request = parse_hook_request(body, hook)
        patient = f"Patient/{request.patient_id}"
        # A database server's stored alerts are read in a thread while the prefetch is evaluated.
        stored = (
            asyncio.ensure_future(asyncio.to_thread(self._stored_findings, patient))
            if hook is Hook.PATIENT_VIEW and not self.local_store
            else None
        )
        try:
            data = await gather_patient_data(
                request, self.templates, http=self.http, deadline=self.fetch_deadline
            )
            evaluation = evaluate_for_hook(
                self.engine, data.resources, at=self.clock(), hook=hook, selections=request.selections
            )
            if stored is not None:
                findings = await stored
            else:  # SQLite in WAL mode: a local read that never waits for a writer, cheaper than a thread
                findings = self._stored_findings(patient) if hook is Hook.PATIENT_VIEW else []
        finally:
            _settle(stored)
        result = evaluation.result
        response = result_to_cards(result, draft_orders=evaluation.snapshot.draft_orders, stored=findings)
        await self._remember(service_id, request.hook_instance, response["cards"])
        if self.metrics is not None:
            self.metrics.cards_returned(service_id, response["cards"])
        where = f"{service_id} {_loggable(request.hook_instance)}"
        if result.failures:
            logger.warning("%s: rules failed: %s", where, ", ".join(f.rule_id for f in result.failures))
        logger.info(
            "%s: cards=%s fetched=%s in %.1f ms",
            where,
            ",".join(c["source"]["topic"]["code"] for c in response["cards"]) or "-",
            ",".join(data.fetched) or "-",
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _stored_findings(self, patient: str) -> list[Finding]:
        findings = []
        for alert in self.alerts.for_patient(patient):
            try:
                findings.append(stored_alert_to_finding(alert))
            except (KeyError, TypeError, ValueError, AttributeError):
                logger.warning("stored alert of rule %s not shown: unreadable payload", alert.rule_id)
        return findings

    async def _remember(self, service_id: str, hook_instance: str, cards: list[dict[str, Any]]) -> None:
        issued = self.cards.pending(
            [IssuedCard(c["uuid"], c["source"]["topic"]["code"], service_id, hook_instance) for c in cards]
        )
        if not issued:  # the usual case: the same cards as at the last chart opening
            return
        try:
            await asyncio.to_thread(self.cards.remember, issued, self.clock())
        except Exception as exc:  # the cards matter more than attributing their feedback later
            where = f"{service_id} {_loggable(hook_instance)}"
            logger.warning("%s: issued cards not recorded (%s)", where, type(exc).__name__)

    async def record_feedback(self, service_id: str, body: bytes) -> FeedbackReceipt:
        """Store every feedback item against its card's rule; repeats are stored once."""
        items = parse_feedback(body)
        issued = await asyncio.to_thread(self.cards.lookup, [i.card for i in items])
        unknown = [i.card for i in items if i.card not in issued]
        if unknown:
            raise UnknownCardsError(list(dict.fromkeys(unknown)))
        feedback = [
            item.resolved(
                rule_id=issued[item.card].rule_id,
                service_id=service_id,
                hook_instance=issued[item.card].hook_instance,
            )
            for item in items
        ]

        def record_all() -> int:
            return sum(self.feedback.record(f) for f in feedback)

        stored = await asyncio.to_thread(record_all)
        if self.metrics is not None:
            self.metrics.feedback_received((f.rule_id, f.outcome) for f in feedback)
        logger.info("%s feedback: %s received, %s new", service_id, len(items), stored)
        return FeedbackReceipt(len(items), stored)

    async def override_rates(self) -> tuple[OverrideRate, ...]:
        return await asyncio.to_thread(self.feedback.override_rates)

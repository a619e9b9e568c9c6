"""`osteoalert sweep --write-back`: each finding of findings.ndjson written to the EHR as a FHIR
DetectedIssue, with the subscription path's builder and conditional create
(`service.adapters.fhir_writeback`): the identifier is stable for (patient, rule id, evidence), so a
sweep run twice, or a finding the subscription path already wrote, is never duplicated.

findings.ndjson is streamed; at most `concurrency` requests are in flight. Transient refusals (429,
5xx, timeouts) are retried with capped exponential backoff honouring Retry-After; the others are
recorded in problems.ndjson and the write-back goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from service.adapters.fhir_auth import FhirConnection
from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_writeback import build_detected_issue, write_detected_issue
from service.ports import StoredAlert


@dataclass
class WriteBackSummary:
    created: int = 0
    exists: int = 0  # the server had it already (a second sweep, or the subscription path)
    failed: int = 0
    problems: list[bytes] = field(default_factory=list)


def finding_alert(line: dict[str, Any], at: datetime) -> StoredAlert:
    """A findings.ndjson line as the alert the DetectedIssue builder reads."""
    evidence = tuple(e["reference"] for e in line.get("evidence", []) if e.get("reference"))
    return StoredAlert(
        patient=line["patient"], rule_id=line["rule_id"], indicator=line["indicator"],
        summary=line["summary"], detail=line["detail"], index_key="", card_uuid="",
        identifier=line["identifier"], evidence=evidence, payload=line, status="new",
        failure_reason=None, created_at=at, updated_at=at,
    )  # fmt: skip


@dataclass
class _Writer:
    client: FhirClient
    at: datetime
    summary: WriteBackSummary
    sleep: Callable[[float], Awaitable[None]]
    retries: int = 5
    max_wait: float = 60.0

    async def write(self, line: dict[str, Any]) -> None:
        try:
            resource = build_detected_issue(finding_alert(line, self.at))
        except (ValueError, KeyError, TypeError) as exc:
            self.fail(line, f"not built: {exc}")
            return
        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                answer = await write_detected_issue(self.client, resource)
            except FhirClientError as exc:
                if not exc.transient or attempt == self.retries:
                    self.fail(line, str(exc))
                    return
                await self.sleep(
                    min(exc.retry_after if exc.retry_after is not None else delay, self.max_wait)
                )
                delay = min(delay * 2, self.max_wait)
                continue
            if answer.outcome == "created":
                self.summary.created += 1
            else:
                self.summary.exists += 1
            return

    def fail(self, line: dict[str, Any], why: str) -> None:
        self.summary.failed += 1
        patient, rule_id = line.get("patient"), line.get("rule_id")
        problem = {"kind": "write-back-failed", "patient": patient, "rule_id": rule_id, "detail": why}
        self.summary.problems.append(orjson.dumps(problem))


async def write_back(
    connection: FhirConnection,
    findings: Path,
    at: datetime,
    *,
    concurrency: int = 8,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> WriteBackSummary:
    """Write every finding of `findings` (findings.ndjson) back; failures go to the summary."""
    summary = WriteBackSummary()
    slots = asyncio.Semaphore(concurrency)
    async with connection.session() as client:
        writer = _Writer(client, at, summary, sleep)

        async def one(line: dict[str, Any]) -> None:
            try:
                await writer.write(line)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            with findings.open("rb") as fh:
                for raw in fh:
                    line = orjson.loads(raw) if raw.strip() else None
                    if line is None:
                        continue
                    if not line.get("identifier"):
                        writer.fail(line, "patient id is not a FHIR id: no DetectedIssue")
                        continue
                    await slots.acquire()  # bounded: the file is never read far ahead of the writes
                    group.create_task(one(line))
    return summary

"""Use cases that run the one rule engine: everything the CLI, the hooks, the workers and sweeps call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rules import EvaluationResult, Finding, Hook, Parameters, PatientSnapshot, evaluate
from rules.codesets import CodeSets
from service.adapters.cds_cards import card_uuid
from service.adapters.fhir_auth import FhirConnection
from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_context import ContextPlan, NoPatientError, fetch_patient_context, resolve_patient
from service.adapters.fhir_decode import PatientResources, read_patient_bundle
from service.adapters.fhir_snapshot import build_snapshot
from service.adapters.fhir_writeback import (
    build_detected_issue,
    detected_issue_identifier,
    write_detected_issue,
)
from service.adapters.findings_json import finding_to_dict
from service.ports import AlertStore, NewAlert, StoredAlert

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Engine:
    """What every evaluation needs besides the patient: code sets and rule parameters."""

    codesets: CodeSets
    params: Parameters


def evaluate_resources(
    engine: Engine,
    resources: PatientResources,
    *,
    at: datetime,
    hook: Hook,
    selections: frozenset[str] | None = None,
) -> EvaluationResult:
    return evaluate_for_hook(engine, resources, at=at, hook=hook, selections=selections).result


@dataclass(frozen=True, slots=True)
class HookEvaluation:
    snapshot: PatientSnapshot
    result: EvaluationResult


def evaluate_for_hook(
    engine: Engine,
    resources: PatientResources,
    *,
    at: datetime,
    hook: Hook,
    selections: frozenset[str] | None = None,
) -> HookEvaluation:
    """`evaluate_resources` that keeps the snapshot: CDS cards name the draft orders they act on."""
    snapshot = build_snapshot(
        resources,
        at=at,
        hook=hook,
        selections=selections,
        codesets=engine.codesets,
        params=engine.params,
    )
    return HookEvaluation(snapshot, evaluate(snapshot, engine.params))


def evaluate_bundle(
    engine: Engine,
    data: bytes,
    *,
    at: datetime,
    hook: Hook,
    selections: frozenset[str] | None = None,
    strict: bool = False,
) -> EvaluationResult:
    """Evaluate one patient's FHIR Bundle (or NDJSON) bytes. Bad input raises `FhirInputError`."""
    resources = read_patient_bundle(data, strict=strict)
    return evaluate_resources(engine, resources, at=at, hook=hook, selections=selections)


# --- Background path (issue 4): one patient, from the EHR's FHIR server to DetectedIssues -----------


class NotConfiguredError(RuntimeError):
    """Background evaluation needs OSTEOALERT_FHIR_BASE_URL (recorded as a failure, not retried)."""


@dataclass(frozen=True, slots=True)
class Background:
    """What background evaluation needs (built once per process by a composition root)."""

    engine: Engine
    fhir: FhirConnection | None  # None: OSTEOALERT_FHIR_BASE_URL is not set
    plan: ContextPlan
    alerts: AlertStore
    clock: Callable[[], datetime]

    def connection(self) -> FhirConnection:
        if self.fhir is None:
            raise NotConfiguredError("OSTEOALERT_FHIR_BASE_URL is not set: nothing can be fetched")
        return self.fhir


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    patient: str  # "Patient/<id>"
    findings: tuple[str, ...]  # rule ids of the background scope that fired
    written: int  # DetectedIssues created now
    already_there: int  # conditional create found them (a retry, a replay)
    write_failures: int  # permanent write-back failures (recorded on the alert)
    rule_failures: tuple[str, ...] = ()


WriteOutcome = Literal["created", "exists", "failed"]


def finding_to_alert(patient: str, finding: Finding) -> NewAlert:
    """A background finding, ready for the alert store: card uuid and write-back identifier computed."""
    evidence = _evidence(finding)
    return NewAlert(
        rule_id=finding.rule_id,
        indicator=finding.indicator.value,
        summary=finding.summary,
        detail=finding.detail,
        index_key=finding.index_key,
        card_uuid=card_uuid(patient, finding.rule_id, finding.index_key),
        identifier=alert_identifier(patient, finding),
        evidence=evidence,
        payload=finding_to_dict(finding),
    )


def alert_identifier(patient: str, finding: Finding) -> str:
    """The identifier of the DetectedIssue a finding is written back as: stable for (patient, rule id,
    evidence), so that every path that writes it back (subscriptions, sweeps) names it alike."""
    evidence = _evidence(finding)
    return detected_issue_identifier(patient, finding.rule_id, evidence, index_key=finding.index_key)


def _evidence(finding: Finding) -> tuple[str, ...]:
    return tuple(e.reference for e in finding.evidence if e.reference)


async def write_back_finding(bg: Background, client: FhirClient, alert: StoredAlert) -> WriteOutcome:
    """Write one stored alert back as a DetectedIssue (conditional create) and record the outcome.

    Transient failures (and a 401, which the FHIR session turns into a token refresh) propagate: the
    task is retried and the alert, still "new", is written then. Other refusals mark it failed.
    """
    try:
        answer = await write_detected_issue(client, build_detected_issue(alert))
    except FhirClientError as exc:
        if exc.transient or exc.status == 401:
            raise
        logger.error("%s %s: write-back refused: %s", alert.patient, alert.rule_id, exc)
        await asyncio.to_thread(bg.alerts.mark_failed, alert.key, str(exc), at=bg.clock())
        return "failed"
    except ValueError as exc:  # our DetectedIssue did not validate: a bug, never sent
        logger.error("%s %s: write-back not built: %s", alert.patient, alert.rule_id, exc)
        await asyncio.to_thread(bg.alerts.mark_failed, alert.key, str(exc), at=bg.clock())
        return "failed"
    await asyncio.to_thread(bg.alerts.mark_written, alert.key, at=bg.clock())
    return answer.outcome


async def evaluate_patient(
    bg: Background, *, patient: str | None = None, focus: str | None = None
) -> PatientOutcome:
    """Fetch one patient's context, run the background rules (RULES.md 1.5), store the findings in the
    alert store (served as cards at the next patient-view) and write the new ones back.

    `patient` is a Patient id ("p1" or "Patient/p1"); else `focus` ("Observation/o1") names the
    resource of a notification, read to find its Patient. Idempotent: run it again and nothing is
    duplicated (the store keys alerts, the write-back is a conditional create).
    """
    if patient is None and focus is None:
        raise ValueError("evaluate_patient needs a patient or a focus")
    at = bg.clock()
    async with bg.connection().session() as client:
        try:
            pid = patient.removeprefix("Patient/") if patient else await resolve_patient(client, str(focus))
        except NoPatientError as exc:  # e.g. a Device result: not ours to evaluate, not a failure
            logger.info("nothing to evaluate: %s", exc)
            return PatientOutcome(patient="", findings=(), written=0, already_there=0, write_failures=0)
        resources = await fetch_patient_context(client, pid, at=at, plan=bg.plan)
        result = evaluate_resources(bg.engine, resources, at=at, hook=Hook.BACKGROUND)
        alerts = [finding_to_alert(result.patient, f) for f in result.findings]
        stored = await asyncio.to_thread(bg.alerts.upsert, result.patient, alerts, at)
        outcomes = [await write_back_finding(bg, client, a) for a in stored if a.status == "new"]
    if result.failures:
        logger.warning("%s: rules failed: %s", result.patient, ", ".join(f.rule_id for f in result.failures))
    return PatientOutcome(
        patient=result.patient,
        findings=tuple(f.rule_id for f in result.findings),
        written=outcomes.count("created"),
        already_there=outcomes.count("exists"),
        write_failures=outcomes.count("failed"),
        rule_failures=tuple(f.rule_id for f in result.failures),
    )

"""FHIR Bulk Data `$export` client (Bulk Data Access IG v2): kick-off, poll, download, delete.

Levels: system (`[base]/$export`), all patients (`[base]/Patient/$export`) or a group
(`[base]/Group/<id>/$export`). Kick-off asks for the types the rules read (`_type`) and only the
Observation codes they use (`_typeFilter`), with `_since` = the `transactionTime` of the previous
export of the same source when asked (`since="auto"`). The status URL is stored before polling, so
a run that is stopped resumes the same job. Polling honours `Retry-After` (seconds or a date),
capped, and otherwise backs off exponentially; 429 and transient 5xx are waited out. Output files
are streamed to disk (`<Type>.ndjson`, `<Type>.2.ndjson`, ...) with the bearer token when the
manifest says `requiresAccessToken`; `error` files (OperationOutcomes) become problems; `deleted`
Bundles are kept for the sweep. The job is deleted on the server at the end.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
import msgspec
import orjson

from rules.codesets import CodeSets
from service.adapters.fhir_auth import FhirAuth, NoAuth
from service.adapters.fhir_client import FHIR_JSON, is_transient_status, retry_after_seconds
from service.sweep.export_store import ExportStore

NDJSON = "application/fhir+ndjson"
PATIENT_TYPES = (
    "Patient", "Observation", "DiagnosticReport", "Condition", "Procedure", "MedicationRequest",
    "MedicationStatement", "MedicationAdministration",
)  # fmt: skip
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
# OperationOutcome issue codes that say "try again": the job itself has not failed.
_TRANSIENT_ISSUES = frozenset({"transient", "lock-error", "no-store", "exception", "timeout", "throttled"})
Level = Literal["system", "patient", "group"]


class BulkExportError(Exception):
    """The export failed or cannot go on; `str(e)` says why in one line (never a token)."""


class _File(msgspec.Struct):
    type: str = ""
    url: str = ""


class Manifest(msgspec.Struct, rename="camel"):
    transaction_time: str = ""
    requires_access_token: bool = False
    output: list[_File] = []
    error: list[_File] = []
    deleted: list[_File] = []


class _Issue(msgspec.Struct):
    severity: str = ""
    code: str = ""
    diagnostics: str | None = None
    details: dict[str, Any] | None = None


class _Outcome(msgspec.Struct):
    issue: list[_Issue] = []


def kickoff_url(url: str) -> str:
    """The kick-off endpoint: `url` itself when it ends in `$export`, else `<url>/$export`."""
    url = url.split("?", 1)[0].rstrip("/")
    return url if url.endswith("$export") else f"{url}/$export"


def export_level(url: str) -> Level:
    parts = urlsplit(kickoff_url(url)).path.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "Group":
        return "group"
    if len(parts) >= 2 and parts[-2] == "Patient":
        return "patient"
    return "system"


def export_types(level: Level) -> tuple[str, ...]:
    """Medication is outside the Patient compartment: asked for at system level only."""
    return (*PATIENT_TYPES, "Medication") if level == "system" else PATIENT_TYPES


def observation_filter(codesets: CodeSets) -> str:
    """`Observation?code=<system>|<code>,...`: the lab and DXA codes the rules read."""
    uris: dict[str, str] = {}
    for uri, alias in sorted(codesets.systems.items()):
        uris.setdefault(alias, uri)
    codes = sorted({(uris.get(a, a), c) for a, c in [*codesets.labs, *codesets.dxa]})
    return "Observation?code=" + ",".join(f"{s}|{c}" for s, c in codes)


def _outcome_text(body: bytes) -> str:
    try:
        outcome = msgspec.json.decode(body, type=_Outcome)
    except msgspec.DecodeError:
        return ""
    texts = [i.diagnostics or (i.details or {}).get("text") or i.code for i in outcome.issue]
    return "; ".join(t for t in texts if t)[:300]


def _failed(what: str, response: httpx.Response) -> str:
    detail = _outcome_text(response.content)
    return f"{what} answered {response.status_code}" + (f": {detail}" if detail else "")


def _transient_outcome(body: bytes) -> bool:
    try:
        outcome = msgspec.json.decode(body, type=_Outcome)
    except msgspec.DecodeError:
        return True  # a bare 5xx (a proxy's page): the job may well be alive
    return not outcome.issue or all(i.code in _TRANSIENT_ISSUES for i in outcome.issue)


@dataclass(frozen=True, slots=True)
class ExportResult:
    transaction_time: str
    layers: list[Path]  # the sweep's source, oldest first
    files: list[Path]
    problems: Path | None  # NDJSON of the export's error OperationOutcome issues
    errors: int = 0
    deleted: int = 0
    since: str | None = None


@dataclass
class BulkExportClient:
    http: httpx.AsyncClient
    store: ExportStore
    auth: FhirAuth = field(default_factory=NoAuth)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    first_wait: float = 1.0
    max_wait: float = 120.0
    max_transport_failures: int = 10
    timeout: float = 60.0
    max_polls: int | None = None  # None: poll until the job ends; else stop (resumable) after this many

    async def _headers(self, accept: str, *, token: bool = True) -> dict[str, str]:
        headers = {"Accept": accept}
        value = await self.auth.token(self.http) if token else None
        if value:
            headers["Authorization"] = f"Bearer {value}"
        return headers

    async def _request(self, method: str, url: str, *, accept: str = FHIR_JSON, token: bool = True,
                       **kwargs: Any) -> httpx.Response:  # fmt: skip
        """One request; a 401 with a refreshable token is retried once with a new token."""
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = await self._headers(accept, token=token) | extra
            response = await self.http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            if response.status_code == httpx.codes.UNAUTHORIZED and self.auth.refreshable and attempt == 1:
                self.auth.invalidate()
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def export(
        self,
        url: str,
        *,
        since: str | None = None,
        type_filters: tuple[str, ...] = (),
    ) -> ExportResult:
        """Run (or resume) the export of `url`; `since="auto"` uses the stored transactionTime."""
        source = kickoff_url(url)
        if urlsplit(source).scheme not in ("http", "https") or not urlsplit(source).netloc:
            raise BulkExportError(f"{url!r} is not an http(s) URL")
        state = self.store.get(source)
        if state.status_url is None:
            wanted = state.transaction_time if since == "auto" else since
            status_url = await self._kickoff(source, wanted, type_filters)
            state = self.store.begin(source, status_url, wanted)
        if state.status_url is None or state.pending_layer is None:
            raise BulkExportError("export state lost its pending job")  # pragma: no cover
        manifest = await self._poll(source, state.status_url)
        layer = self.store.source_dir(source) / state.pending_layer
        files = await self._download_all(manifest, manifest.output, layer)
        error_files = await self._download_all(manifest, manifest.error, layer / "errors")
        deleted = await self._download_all(manifest, manifest.deleted, layer / "deleted")
        problems, errors = _problems(error_files, layer / "errors" / "problems.ndjson")
        await self._delete(state.status_url)
        layers = self.store.complete(source, manifest.transaction_time)
        return ExportResult(manifest.transaction_time, layers, files, problems, errors, len(deleted),
                            state.pending_since)  # fmt: skip

    async def _kickoff(self, source: str, since: str | None, type_filters: tuple[str, ...]) -> str:
        params: list[tuple[str, str]] = [
            ("_outputFormat", NDJSON),
            ("_type", ",".join(export_types(export_level(source)))),
        ]
        params += [("_typeFilter", f) for f in type_filters]
        if since:
            params.append(("_since", since))
        delay = self.first_wait
        while True:
            response = await self._send("GET", source, params=params, headers={"Prefer": "respond-async"})
            if response.status_code == httpx.codes.ACCEPTED:
                location = response.headers.get("content-location")
                if not location:
                    raise BulkExportError("export kick-off answered 202 without Content-Location")
                return str(urljoin(source, location))
            if not is_transient_status(response.status_code):
                raise BulkExportError(_failed("export kick-off", response))
            delay = await self._wait(response, delay)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        failures = 0
        delay = self.first_wait
        while True:
            try:
                return await self._request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.max_transport_failures:
                    raise BulkExportError(f"FHIR server unreachable: {type(exc).__name__}") from None
                await self.sleep(delay)
                delay = min(delay * 2, self.max_wait)

    async def _wait(self, response: httpx.Response, delay: float) -> float:
        """Sleep as the server asks (capped), else `delay`; return the next backoff delay."""
        asked = retry_after_seconds(response.headers.get("retry-after"))
        await self.sleep(min(asked if asked is not None else delay, self.max_wait))
        return min(delay * 2, self.max_wait)

    async def _poll(self, source: str, status_url: str) -> Manifest:
        delay = self.first_wait
        polls = 0
        while True:
            if self.max_polls is not None and polls >= self.max_polls:
                raise BulkExportError(f"export still running after {polls} polls; run again to resume it")
            polls += 1
            response = await self._send("GET", status_url)
            status = response.status_code
            if status == httpx.codes.OK:
                try:
                    return msgspec.json.decode(response.content, type=Manifest)
                except msgspec.DecodeError as exc:
                    raise BulkExportError(f"export manifest is not valid JSON: {exc}") from None
            waiting = status in (httpx.codes.ACCEPTED, httpx.codes.TOO_MANY_REQUESTS)
            if waiting or (status >= 500 and _transient_outcome(response.content)):
                delay = await self._wait(response, delay)
                continue
            self.store.forget_pending(source)  # the job failed or expired: the next run starts anew
            raise BulkExportError(_failed("export status", response))

    async def _download_all(self, manifest: Manifest, files: list[_File], folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        seen: dict[str, int] = {}
        out = []
        for item in files:
            if not _TYPE_NAME.fullmatch(item.type):
                raise BulkExportError(f"export manifest names an invalid resource type {item.type[:40]!r}")
            seen[item.type] = seen.get(item.type, 0) + 1
            n = seen[item.type]
            target = folder / (f"{item.type}.ndjson" if n == 1 else f"{item.type}.{n}.ndjson")
            await self._download(item.url, target, manifest.requires_access_token)
            out.append(target)
        return out

    async def _download(self, url: str, target: Path, token: bool) -> None:
        partial = target.with_name(target.name + ".partial")
        delay = self.first_wait
        for _ in range(self.max_transport_failures):
            headers = await self._headers(NDJSON, token=token)
            try:
                async with self.http.stream("GET", url, headers=headers, timeout=self.timeout) as response:
                    if response.status_code == httpx.codes.OK:
                        with partial.open("wb") as fh:
                            async for chunk in response.aiter_bytes():
                                fh.write(chunk)
                        partial.replace(target)
                        return
                    await response.aread()
                    if not is_transient_status(response.status_code):
                        raise BulkExportError(f"export file download answered {response.status_code}")
                    delay = await self._wait(response, delay)
            except httpx.TransportError:
                await self.sleep(delay)
                delay = min(delay * 2, self.max_wait)
        raise BulkExportError("export file download kept failing")

    async def _delete(self, status_url: str) -> None:
        """Tell the server it may drop the files; a refusal is not worth failing the sweep for."""
        try:
            await self._request("DELETE", status_url)
        except httpx.TransportError:
            return


def _problems(error_files: list[Path], target: Path) -> tuple[Path | None, int]:
    """Each issue of each OperationOutcome line of the `error` files, as a problem line."""
    count = 0
    lines = []
    for path in error_files:
        for raw in path.read_bytes().splitlines():
            if not raw.strip():
                continue
            try:
                outcome = msgspec.json.decode(raw, type=_Outcome)
            except msgspec.DecodeError:
                outcome = _Outcome([_Issue("error", "invalid", "unreadable OperationOutcome line")])
            for issue in outcome.issue:
                text = issue.diagnostics or (issue.details or {}).get("text") or ""
                lines.append(orjson.dumps({"kind": "export-error", "severity": issue.severity,
                                           "code": issue.code, "detail": text}))  # fmt: skip
                count += 1
    if not lines:
        return None, 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\n".join(lines) + b"\n")
    return target, count

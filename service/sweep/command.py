"""What `osteoalert sweep` does besides parsing arguments: the export (when asked), the sweep, the
write-back (when asked), the progress bar. The CLI only chooses the shard runner (Celery when Redis
is configured)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import httpx

from service.adapters.fhir_auth import FhirConnection, auth_from_settings
from service.evaluation import Engine
from service.settings import Settings
from service.sweep.bulk_export import BulkExportClient, ExportResult, observation_filter
from service.sweep.export_store import ExportStore
from service.sweep.run import ShardRunner, SweepError, SweepOptions, SweepResult, sweep
from service.sweep.sources import NdjsonSource
from service.sweep.write_back import WriteBackSummary, write_back

BAR_WIDTH = 30


class TerminalProgress:
    """A one-line progress bar on a terminal; nothing when the stream is not one (pipes, CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage and self.stage:
            self.stream.write("\n")
        self.stage = stage
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        self.stream.write(f"\r{stage:<10} {bar} {done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.stage:
            self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True, slots=True)
class SweepRequest:
    out: Path
    at: datetime
    source: Path | None = None
    export_url: str | None = None
    since: str | None = None  # "auto": the previous export's transactionTime
    shards: int | None = None
    workers: int | None = None
    strict: bool = False
    work: Path | None = None
    keep_work: bool = False
    write_back: bool = False  # DetectedIssues to OSTEOALERT_FHIR_BASE_URL (conditional create)


@dataclass(frozen=True, slots=True)
class SweepCommandResult:
    sweep: SweepResult
    write_back: WriteBackSummary | None = None

    def summary_line(self) -> str:
        line = self.sweep.summary_line()
        w = self.write_back
        if w is None:
            return line
        return f"{line}; DetectedIssues: {w.created} written, {w.exists} already there, {w.failed} failed"


async def run_export(
    settings: Settings,
    engine: Engine,
    url: str,
    since: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ExportResult:
    """`transport` is the seam tests use to put a FHIR server test double behind httpx."""
    auth = auth_from_settings(settings)
    async with httpx.AsyncClient(follow_redirects=True, transport=transport) as http:
        client = BulkExportClient(http, ExportStore(settings.sweep_export_dir), auth,
                                  timeout=settings.fhir_timeout_seconds)  # fmt: skip
        return await client.export(url, since=since, type_filters=(observation_filter(engine.codesets),))


def _source(
    settings: Settings, engine: Engine, request: SweepRequest, stderr: TextIO,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[NdjsonSource, tuple[Path, ...]]:  # fmt: skip
    """The folder, or the export's layers (run or resumed now) and its error file."""
    if request.export_url is None:
        if request.source is None:
            raise ValueError("a source folder or an export URL is needed")
        return NdjsonSource.of(request.source), ()
    exported = asyncio.run(run_export(settings, engine, request.export_url, request.since, transport))
    since = f" since {exported.since}" if exported.since else ""
    stderr.write(
        f"exported {len(exported.files)} file(s){since} (transactionTime {exported.transaction_time}; "
        f"{exported.errors} error(s), {exported.deleted} deleted-resource file(s))\n"
    )
    if exported.since and len(exported.layers) == 1:
        stderr.write("warning: an incremental export with no earlier full export of this source: "
                     "patients' records hold only what changed since then\n")  # fmt: skip
    return NdjsonSource.of(exported.layers), (() if exported.problems is None else (exported.problems,))


def run_sweep_command(
    settings: Settings,
    engine: Engine,
    request: SweepRequest,
    *,
    runner: ShardRunner | None = None,
    stderr: TextIO = sys.stderr,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SweepCommandResult:
    """Export (when `export_url`), sweep, write back (when asked); progress on `stderr` when it is a
    terminal. `transport` is the seam tests use to put FHIR server test doubles behind httpx."""
    base_url = settings.fhir_base_url
    if request.write_back and base_url is None:
        raise SweepError("--write-back needs OSTEOALERT_FHIR_BASE_URL (the EHR's FHIR server)")
    source, extra = _source(settings, engine, request, stderr, transport)
    options = SweepOptions(
        out=request.out,
        at=request.at,
        shards=request.shards,
        strict=request.strict,
        work=request.work,
        keep_work=request.keep_work,
        extra_problems=extra,
        **({"workers": request.workers} if request.workers else {}),
    )
    progress = TerminalProgress(stderr)
    try:
        result = sweep(engine, source, options, runner=runner, progress=progress)
    finally:
        progress.close()
    if not request.write_back or base_url is None:
        return SweepCommandResult(result)
    written = asyncio.run(_write_back(settings, base_url, result, request.at, transport))
    if written.problems:
        with (request.out / "problems.ndjson").open("ab") as fh:
            fh.write(b"\n".join(written.problems) + b"\n")
    return SweepCommandResult(result, written)


async def _write_back(
    settings: Settings, base_url: str, result: SweepResult, at: datetime,
    transport: httpx.AsyncBaseTransport | None,
) -> WriteBackSummary:  # fmt: skip
    async with httpx.AsyncClient(follow_redirects=False, transport=transport) as http:
        connection = FhirConnection(base_url, http, auth_from_settings(settings),
                                    timeout=settings.fhir_timeout_seconds)  # fmt: skip
        return await write_back(connection, result.outputs.files["findings.ndjson"], at)

"""`--write-back`: one DetectedIssue per finding, by conditional create with the subscription path's
identifiers, against the project's FHIR server test double."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fhir.resources.R4B.detectedissue import DetectedIssue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rules import Hook
from service.evaluation import evaluate_bundle, finding_to_alert
from service.settings import Settings
from service.sweep.command import SweepCommandResult, SweepRequest, run_sweep_command
from service.sweep.run import SweepError
from tests.service.sweep.population import (
    SAMPLES_AT,
    default_engine,
    lines_by_patient,
    read_ndjson,
    samples_folder,
)

ENGINE = default_engine()
BASE = "http://ehr.test/fhir"


@dataclass
class DetectedIssueServer:
    """Conditional create as a FHIR server does it: 201 once per identifier, then 200."""

    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    fail_first: int = 0  # answer 503 (Retry-After: 0) to the first n posts
    refuse_patient: str | None = None  # answer 422 for this patient's issues

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(
            app=Starlette(routes=[Route("/fhir/DetectedIssue", self.post, methods=["POST"])])
        )

    async def post(self, request: Request) -> Response:
        self.posts += 1
        if self.posts <= self.fail_first:
            return JSONResponse(
                {"resourceType": "OperationOutcome"}, status_code=503, headers={"Retry-After": "0"}
            )
        body = orjson.loads(await request.body())
        DetectedIssue.model_validate(body)
        if body["patient"]["reference"] == self.refuse_patient:
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=422)
        condition = request.headers["if-none-exist"]
        identifier = body["identifier"][0]
        assert condition == f"identifier={identifier['system']}|{identifier['value']}"
        if identifier["value"] in self.stored:
            return Response(status_code=200)
        self.stored[identifier["value"]] = body
        return Response(status_code=201, headers={"Location": f"{BASE}/DetectedIssue/{len(self.stored)}"})


def sweep_and_write(folder: Path, out: Path, server: DetectedIssueServer) -> SweepCommandResult:
    settings = Settings(fhir_base_url=BASE)
    request = SweepRequest(out=out, at=SAMPLES_AT, source=folder, workers=1, write_back=True)
    return run_sweep_command(settings, ENGINE, request, stderr=io.StringIO(), transport=server.transport())


def test_each_finding_is_written_once_with_the_subscription_paths_identifier(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in")
    server = DetectedIssueServer(fail_first=2)
    first = sweep_and_write(folder, tmp_path / "out1", server)
    expected = set()
    for patient, blob in lines_by_patient(folder).items():
        for f in evaluate_bundle(ENGINE, blob, at=SAMPLES_AT, hook=Hook.BATCH).findings:
            expected.add(finding_to_alert(patient, f).identifier)
    assert set(server.stored) == expected
    assert first.write_back is not None
    assert (first.write_back.created, first.write_back.failed) == (len(expected), 0)
    second = sweep_and_write(folder, tmp_path / "out2", server)
    assert second.write_back is not None
    assert (second.write_back.created, second.write_back.exists) == (0, len(expected))
    assert len(server.stored) == len(expected)
    assert "DetectedIssues: 0 written" in second.summary_line()


def test_a_refused_write_is_recorded_and_the_others_are_written(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in")
    refused = "Patient/v25"
    result = sweep_and_write(folder, tmp_path / "out", DetectedIssueServer(refuse_patient=refused))
    assert result.write_back is not None and result.write_back.failed >= 1
    problems = [
        p for p in read_ndjson(tmp_path / "out" / "problems.ndjson") if p["kind"] == "write-back-failed"
    ]
    assert {p["patient"] for p in problems} == {refused}
    assert "422" in problems[0]["detail"]
    assert result.write_back.created == result.sweep.outputs.tally.total_findings - len(problems)


def test_write_back_needs_the_fhir_server_url(tmp_path: Path) -> None:
    request = SweepRequest(out=tmp_path / "out", at=SAMPLES_AT, source=tmp_path, write_back=True)
    with pytest.raises(SweepError, match="OSTEOALERT_FHIR_BASE_URL"):
        run_sweep_command(Settings(), ENGINE, request)

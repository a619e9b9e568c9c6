"""A FHIR Bulk Data server test double (ASGI, served to httpx through `httpx.ASGITransport`).

The bulk server is the boundary we do not own: this double speaks its protocol (kick-off, status,
manifest, files, error files, DELETE) from a script, and records what the client sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BASE = "http://ehr.test/fhir"
FILES = "http://files.test/files"


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}  # fmt: skip


@dataclass
class Answer:
    """One scripted status-poll answer (before the manifest)."""

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class BulkDouble:
    files: dict[str, bytes] = field(default_factory=dict)  # resource type → NDJSON
    answers: list[Answer] = field(default_factory=list)  # consumed one per poll, then the manifest
    errors: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcomes of the error file
    requires_token: bool = False
    token: str | None = None
    transaction_times: list[str] = field(default_factory=lambda: ["2026-01-15T11:00:00Z"])
    kickoff_answer: Answer | None = None
    # What the client sent.
    kickoffs: list[Request] = field(default_factory=list)
    kickoff_params: list[list[tuple[str, str]]] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    file_auth: list[str | None] = field(default_factory=list)

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app())

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/fhir/$export", self.kickoff),
                Route("/fhir/Patient/$export", self.kickoff),
                Route("/fhir/Group/{group}/$export", self.kickoff),
                Route("/fhir/jobs/{job}", self.status, methods=["GET", "DELETE"]),
                Route("/files/{name}", self.file),
            ]
        )

    async def kickoff(self, request: Request) -> Response:
        self.kickoffs.append(request)
        self.kickoff_params.append(list(request.query_params.multi_items()))
        if request.headers.get("prefer") != "respond-async":
            return JSONResponse(outcome("invalid", "Prefer: respond-async is required"), status_code=400)
        if self.kickoff_answer is not None:
            a = self.kickoff_answer
            return JSONResponse(a.body, status_code=a.status, headers=a.headers)
        job = len(self.kickoffs)
        # Relative at system level (the client resolves it against the kick-off URL), absolute else.
        system = request.url.path == "/fhir/$export"
        return Response(
            status_code=202, headers={"Content-Location": f"jobs/{job}" if system else f"{BASE}/jobs/{job}"}
        )

    async def status(self, request: Request) -> Response:
        job = request.path_params["job"]
        if request.method == "DELETE":
            self.deleted.append(job)
            return Response(status_code=202)
        self.polls.append(job)
        if job in self.deleted:
            return JSONResponse(outcome("not-found", "job deleted"), status_code=404)
        if self.answers:
            a = self.answers.pop(0)
            return JSONResponse(a.body, status_code=a.status, headers=a.headers)
        return JSONResponse(self.manifest(int(job)))

    def manifest(self, job: int) -> dict[str, Any]:
        times = self.transaction_times
        output = [{"type": rtype, "url": f"{FILES}/{rtype}-{job}.ndjson"} for rtype in self.files]
        error = [{"type": "OperationOutcome", "url": f"{FILES}/errors-{job}.ndjson"}] if self.errors else []
        return {
            "transactionTime": times[min(job, len(times)) - 1],
            "request": f"{BASE}/$export",
            "requiresAccessToken": self.requires_token,
            "output": output,
            "error": error,
        }

    async def file(self, request: Request) -> Response:
        name = request.path_params["name"]
        auth = request.headers.get("authorization")
        self.file_auth.append(auth)
        if self.requires_token and auth != f"Bearer {self.token}":
            return JSONResponse(outcome("login", "token required"), status_code=401)
        if name.startswith("errors-"):
            body = b"\n".join(orjson.dumps(o) for o in self.errors) + b"\n"
        else:
            body = self.files[name.split("-", 1)[0]]
        return Response(body, media_type="application/fhir+ndjson")


def ndjson(items: Iterable[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(i) for i in items) + b"\n"

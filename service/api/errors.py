"""Every error response is a FHIR OperationOutcome (`application/fhir+json`), whatever went wrong.

Statuses: 400 invalid request, 401 unauthenticated (no detail, ever), 404 unknown service or path,
405 wrong method, 412 prefetch missing and not fetchable, 413 body too large, 503 overloaded or a
dependency down (with Retry-After), 500 anything else (logged, generic message).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from service.adapters.cds_auth import AuthError
from service.adapters.cds_request import CdsRequestError
from service.adapters.fhir_assemble import FhirInputError
from service.adapters.prefetch import PrefetchUnavailableError
from service.adapters.replay_cache import ReplayCacheUnavailableError
from service.hooks import UnknownCardsError

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_AFTER_SECONDS = "1"

# HTTP status → OperationOutcome.issue.code (FHIR issue-type value set).
ISSUE_CODES: Mapping[int, str] = {
    400: "invalid",
    401: "login",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-long",
    500: "exception",
    503: "transient",
}


def operation_outcome(
    status: int, diagnostics: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": code or ISSUE_CODES.get(status, "processing"),
                "diagnostics": diagnostics,
            }
        ],
    }
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


class ApiError(Exception):
    """An error the routes raise on purpose, answered as an OperationOutcome."""

    def __init__(
        self,
        status: int,
        diagnostics: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code
        self.headers = headers


def unauthorized() -> Response:
    # No detail: which check failed is for the debug log of cds_auth, never for the caller.
    return operation_outcome(
        401, "authentication required", headers={"WWW-Authenticate": 'Bearer realm="cds-services"'}
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        return await _unexpected(request, exc)
    return operation_outcome(exc.status, exc.diagnostics, code=exc.code, headers=exc.headers)


async def _bad_request(_: Request, exc: Exception) -> Response:
    return operation_outcome(400, str(exc))


async def _fhir_input(_: Request, exc: Exception) -> Response:
    return operation_outcome(400, f"the FHIR data of the request: {exc}", code="structure")


async def _prefetch_unavailable(_: Request, exc: Exception) -> Response:
    return operation_outcome(412, str(exc))


async def _auth(_: Request, __: Exception) -> Response:
    return unauthorized()


async def _replay_cache(_: Request, __: Exception) -> Response:
    logger.error("JWT replay cache unavailable: calls are refused until it is back")
    return operation_outcome(
        503, "authentication temporarily unavailable", headers={"Retry-After": RETRY_AFTER_SECONDS}
    )


async def _store(_: Request, exc: Exception) -> Response:
    logger.error("store unavailable: %s", type(exc).__name__)
    return operation_outcome(503, "the store is unavailable", headers={"Retry-After": RETRY_AFTER_SECONDS})


async def _http(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        return await _unexpected(request, exc)
    messages = {404: "no such endpoint", 405: "method not allowed on this endpoint"}
    return operation_outcome(
        exc.status_code, messages.get(exc.status_code, str(exc.detail)), headers=exc.headers
    )


async def _validation(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        return await _unexpected(request, exc)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return operation_outcome(400, f"{where}: {first.get('msg', 'invalid request')}")


async def _unexpected(_: Request, exc: Exception) -> Response:
    logger.error("unhandled %s", type(exc).__name__)
    return operation_outcome(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(CdsRequestError, _bad_request)
    app.add_exception_handler(UnknownCardsError, _bad_request)
    app.add_exception_handler(FhirInputError, _fhir_input)
    app.add_exception_handler(PrefetchUnavailableError, _prefetch_unavailable)
    app.add_exception_handler(AuthError, _auth)
    app.add_exception_handler(ReplayCacheUnavailableError, _replay_cache)
    app.add_exception_handler(SQLAlchemyError, _store)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)

"""Authentication of osteoalert (a backend service) to the EHR's FHIR server.

Three modes (OSTEOALERT_FHIR_AUTH_MODE): `none`; `bearer`, a static token; `smart-backend`, SMART
Backend Services: an OAuth 2.0 client_credentials grant authenticated with a private_key_jwt
assertion signed RS384 or ES384 (iss = sub = client id, aud = token URL, exp ≤ 5 min, unique jti,
`kid` in the header). The access token is cached until shortly before `expires_in` runs out, and one
refresh at a time is made however many tasks need a token (an asyncio lock).

`FhirConnection.session()` hands out a `FhirClient` with the current token; a 401 from the FHIR server
with a refreshable token drops it and becomes a transient failure (the retry gets a new token).
Tokens and keys never reach logs or error messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx
import jwt
import msgspec

from service.adapters.fhir_client import FhirClient, FhirClientError, error_for
from service.settings import Settings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 300  # SMART Backend Services: no more than five minutes
DEFAULT_EXPIRES_IN = 300


class FhirAuth(Protocol):
    @property
    def refreshable(self) -> bool:
        """True when asking again can give a different token (a 401 is then worth a retry)."""
        ...

    async def token(self, http: httpx.AsyncClient) -> str | None:
        """The bearer token to send (None: no Authorization header)."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token (the FHIR server refused it)."""
        ...


class NoAuth:
    refreshable = False

    async def token(self, http: httpx.AsyncClient) -> str | None:  # noqa: ARG002 - protocol signature
        return None

    def invalidate(self) -> None:
        return None


class StaticBearer:
    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self, http: httpx.AsyncClient) -> str | None:  # noqa: ARG002 - protocol signature
        return self._token

    def invalidate(self) -> None:
        return None


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: float = DEFAULT_EXPIRES_IN
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class SmartBackendAuth:
    """SMART Backend Services client (client_credentials + private_key_jwt), token cached."""

    refreshable = True

    def __init__(
        self,
        *,
        client_id: str,
        token_url: str,
        private_key: bytes,
        alg: str = "RS384",
        key_id: str | None = None,
        scope: str = "system/*.read",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if alg not in ("RS384", "ES384"):
            raise ValueError(f"SMART Backend Services signs with RS384 or ES384, not {alg}")
        self._client_id = client_id
        self._token_url = token_url
        self._key = private_key
        self._alg = alg
        self._kid = key_id
        self._scope = scope
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def assertion(self, now: float) -> str:
        """The signed client assertion (a JWT) for one token request."""
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._token_url,
            "exp": int(now) + ASSERTION_LIFETIME_SECONDS,
            "iat": int(now),
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT", **({"kid": self._kid} if self._kid else {})}
        return jwt.encode(claims, self._key, algorithm=self._alg, headers=headers)

    async def token(self, http: httpx.AsyncClient) -> str | None:
        async with self._lock:
            now = self._clock()
            if self._token is not None and now < self._expires_at:
                return self._token
            answer = await self._request(http, now)
            self._token = answer.access_token
            # Refresh before expiry: a token must never expire between our check and its use.
            margin = min(60.0, max(1.0, answer.expires_in * 0.1))
            self._expires_at = now + max(0.0, answer.expires_in - margin)
            return self._token

    async def _request(self, http: httpx.AsyncClient, now: float) -> _TokenResponse:
        form = {
            "grant_type": "client_credentials",
            "scope": self._scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(now),
        }
        try:
            response = await http.post(
                self._token_url, data=form, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.TimeoutException:
            raise FhirClientError("token endpoint timed out", transient=True) from None
        except httpx.HTTPError as exc:
            raise FhirClientError(
                f"token endpoint unreachable: {type(exc).__name__}", transient=True
            ) from None
        if response.status_code != httpx.codes.OK:
            error = error_for(response)
            raise FhirClientError(
                f"token endpoint answered {response.status_code}",
                status=error.status,
                retry_after=error.retry_after,
            )
        try:
            return msgspec.json.decode(response.content, type=_TokenResponse)
        except msgspec.DecodeError:
            raise FhirClientError("token endpoint answered without an access_token") from None

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0


def auth_from_settings(settings: Settings) -> FhirAuth:
    match settings.fhir_auth_mode:
        case "bearer" if settings.fhir_auth_token is not None:
            return StaticBearer(settings.fhir_auth_token.get_secret_value())
        case "smart-backend" if (
            settings.fhir_auth_client_id
            and settings.fhir_auth_token_url
            and settings.fhir_auth_private_key_path is not None
        ):
            return SmartBackendAuth(
                client_id=settings.fhir_auth_client_id,
                token_url=settings.fhir_auth_token_url,
                private_key=settings.fhir_auth_private_key_path.read_bytes(),
                alg=settings.fhir_auth_alg,
                key_id=settings.fhir_auth_key_id,
                scope=settings.fhir_auth_scope,
                timeout=settings.fhir_timeout_seconds,
            )
        case "none":
            return NoAuth()
    raise ValueError(f"fhir_auth_mode={settings.fhir_auth_mode} is not fully configured")


@dataclass(frozen=True, slots=True)
class FhirConnection:
    """The EHR's FHIR server as the workers reach it: base URL, shared HTTP client, authentication."""

    base_url: str
    http: httpx.AsyncClient
    auth: FhirAuth
    timeout: float = 10.0
    max_pages: int = 200

    @asynccontextmanager
    async def session(self) -> AsyncIterator[FhirClient]:
        token = await self.auth.token(self.http)
        client = FhirClient(
            self.base_url, self.http, token=token, timeout=self.timeout, max_pages=self.max_pages
        )
        try:
            yield client
        except FhirClientError as exc:
            if exc.status == httpx.codes.UNAUTHORIZED and self.auth.refreshable:
                self.auth.invalidate()
                raise FhirClientError(
                    "FHIR server answered 401; the access token was dropped", status=401, transient=True
                ) from None
            raise

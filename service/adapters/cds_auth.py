"""CDS Hooks 2.0 authentication of the CDS Client: a bearer JWT signed by an allow-listed issuer.

Every check fails closed with `AuthError`, whose `reason` is for a debug log only (the client gets a
bare 401) and never contains the token. What is checked, in order:
- `Authorization: Bearer <jwt>`; header `alg` ES384 or RS384 only (never `none`, HS*, or others:
  an HS256 token "signed" with our public key is the classic confusion attack) and a `kid`;
- `iss` in the allow-list; the key `kid` from that issuer's JWKS (fetched with a bounded timeout,
  cached, refreshed once on an unknown kid at most every `refresh_interval` seconds). A `jku` header
  is ignored: keys come only from the configured URL;
- the signature; `aud` = the exact endpoint URL called; `exp`, `iat` (and `nbf`) against our clock
  with `leeway`; a lifetime of at most `max_lifetime` (bounds the replay memory);
- `jti` not seen before within its lifetime (ReplayCache, checked last so that unsigned tokens can
  never fill it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from service.ports import ReplayCache

logger = logging.getLogger(__name__)

ALGORITHMS: Mapping[str, str] = {"ES384": "EC", "RS384": "RSA"}  # allowed alg -> JWK key type
_MAX_TOKEN = 16_384  # characters: a CDS Hooks JWT is well under 2 KB
_MAX_JTI = 512
_MAX_JWKS_BYTES = 1_048_576


class AuthError(Exception):
    """The call is not authenticated. Answer 401 without detail; log `reason` at debug level at most."""

    def __init__(self, reason: str) -> None:
        super().__init__("unauthorized")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a CDS Client's JWT."""

    iss: str
    aud: str
    jti: str
    iat: float
    exp: float
    kid: str
    alg: str
    sub: str | None = None
    tenant: str | None = None


@dataclass(slots=True)
class _IssuerKeys:
    url: str
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    parsed: dict[tuple[str, str], jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class CdsAuthenticator:
    def __init__(
        self,
        issuers: Mapping[str, str],
        replay: ReplayCache,
        http: httpx.AsyncClient,
        *,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        max_lifetime: float = 3600.0,
        jwks_timeout: float = 5.0,
        jwks_max_age: float = 3600.0,
        refresh_interval: float = 60.0,
    ) -> None:
        self._issuers = {iss: _IssuerKeys(url) for iss, url in issuers.items()}
        self._replay = replay
        self._http = http
        self._leeway = leeway
        self._clock = clock
        self._max_lifetime = max_lifetime
        self._timeout = httpx.Timeout(jwks_timeout)
        self._max_age = jwks_max_age
        self._refresh_interval = refresh_interval

    async def verify(self, authorization: str | None, audience: str) -> Claims:
        """The claims of a valid, fresh, first-seen token meant for `audience`; else AuthError."""
        try:
            return await self._verify(authorization, audience)
        except AuthError as err:
            logger.debug("CDS Hooks JWT rejected: %s", err.reason)
            raise

    async def _verify(self, authorization: str | None, audience: str) -> Claims:
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise AuthError(f"algorithm {_shown(alg)} not allowed")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid in the header")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise AuthError(f"issuer {_shown(iss)} not allowed")
        key = await self._key(iss, kid, alg)
        try:
            payload = jwt.decode(token, key=key, algorithms=[alg], options=_SIGNATURE_ONLY)
        except jwt.PyJWTError as err:
            raise AuthError(f"signature not verified ({type(err).__name__})") from None
        claims = self._check_claims(payload, audience, kid=kid, alg=alg)
        ttl = claims.exp + self._leeway - self._clock()
        if not await self._replay.first_use(f"{claims.iss}\x1f{claims.jti}", ttl):
            raise AuthError("jti replayed")
        return claims

    def _check_claims(self, payload: Mapping[str, Any], audience: str, *, kid: str, alg: str) -> Claims:
        now, leeway = self._clock(), self._leeway
        aud = payload.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise AuthError("aud is not this endpoint")
        exp, iat, nbf = _number(payload, "exp"), _number(payload, "iat"), payload.get("nbf")
        if now > exp + leeway:
            raise AuthError("expired")
        if iat > now + leeway or (nbf is not None and _number(payload, "nbf") > now + leeway):
            raise AuthError("issued in the future")
        if exp < iat or exp - now > self._max_lifetime + leeway:
            raise AuthError("lifetime out of bounds")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI:
            raise AuthError("jti missing or invalid")
        sub, tenant = payload.get("sub"), payload.get("tenant")
        return Claims(
            iss=payload["iss"],
            aud=audience,
            jti=jti,
            iat=iat,
            exp=exp,
            kid=kid,
            alg=alg,
            sub=sub if isinstance(sub, str) else None,
            tenant=tenant if isinstance(tenant, str) else None,
        )

    async def _key(self, iss: str, kid: str, alg: str) -> jwt.PyJWK:
        entry = self._issuers[iss]
        if kid not in entry.keys or self._stale(entry):
            await self._refresh(iss, entry, kid)
        jwk = entry.keys.get(kid)
        if jwk is None:
            raise AuthError("unknown kid")
        if (kid, alg) not in entry.parsed:
            entry.parsed[(kid, alg)] = _public_key(jwk, alg)
        return entry.parsed[(kid, alg)]

    def _stale(self, entry: _IssuerKeys) -> bool:
        return entry.fetched_at is None or self._clock() - entry.fetched_at > self._max_age

    async def _refresh(self, iss: str, entry: _IssuerKeys, kid: str) -> None:
        """Fetch the JWKS: when none is cached, when it is stale, or once for an unknown kid.

        Refreshes for unknown kids and retries after a failed fetch happen at most once per
        refresh interval, whatever the number of callers: a flood of made-up kids or an issuer
        outage never turns into a flood of requests to the JWKS URL.
        """
        async with entry.lock:
            stale = self._stale(entry)
            if kid in entry.keys and not stale:
                return  # another call refreshed it while this one waited
            now = self._clock()
            if entry.attempted_at is not None and now - entry.attempted_at < self._refresh_interval:
                return
            if not stale:  # a fresh JWKS without this kid: spend the one refresh of the interval
                entry.attempted_at = now
            try:
                keys = await self._fetch(entry.url)
            except (httpx.HTTPError, ValueError) as err:
                # Keep the keys we had: an outage of the issuer's JWKS URL must not drop known keys.
                logger.warning("JWKS of issuer %s not fetched: %s", iss, type(err).__name__)
                entry.attempted_at = now
                return
            entry.keys, entry.parsed, entry.fetched_at = keys, {}, now

    async def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        response = await self._http.get(url, timeout=self._timeout)
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError("JWKS too large")
        return _parse_jwks(response.json())


# Signature only: the time claims are checked against our injectable clock, aud/iss by us as well.
_SIGNATURE_ONLY: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError("not a bearer token")
    if len(token) > _MAX_TOKEN:
        raise AuthError("token too long")
    return token


def _number(payload: Mapping[str, Any], name: str) -> float:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(f"{name} missing or not a number")
    return float(value)


def _shown(value: object) -> str:
    """A header or claim value fit for a log line: short and quoted (attackers choose it)."""
    return repr(value)[:64]


def _parse_jwks(data: object) -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, dict[str, Any]] = {}
    for jwk in data["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            keys.setdefault(jwk["kid"], jwk)  # a duplicated kid: the first key wins, never a later one
    return keys


def _public_key(jwk: Mapping[str, Any], alg: str) -> jwt.PyJWK:
    """The verification key for `alg`, refusing keys whose type, curve, use or alg say otherwise."""
    if jwk.get("kty") != ALGORITHMS[alg]:
        raise AuthError("key type does not match alg")
    if alg == "ES384" and jwk.get("crv") != "P-384":
        raise AuthError("EC key is not on P-384")
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise AuthError("key not meant for this alg or for signatures")
    if "d" in jwk:
        raise AuthError("the JWKS publishes a private key")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg)
    except jwt.PyJWTError:
        raise AuthError("unusable key") from None

"""A small async FHIR REST client (httpx): read, search with paging, bearer token, bounded time.

Used by the CDS Hooks service to fetch what the EHR did not prefetch, and by workers later. It
returns raw bytes: decoding happens once, in the fast typed decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx
import msgspec

FHIR_JSON = "application/fhir+json"


class FhirClientError(Exception):
    """The FHIR server could not give us the data (status, timeout, paging outside the base).

    `status` is the HTTP status when the server answered; `transient` says whether asking again later
    can help (timeouts, connection errors, 408, 429, 5xx); `retry_after` is the server's Retry-After,
    in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transient = is_transient_status(status) if transient is None else transient
        self.retry_after = retry_after


def is_transient_status(status: int | None) -> bool:
    """408, 429 and 5xx may succeed later; other statuses (and no status) will not."""
    return status is not None and (status in (408, 429) or status >= 500)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for(response: httpx.Response) -> FhirClientError:
    """The error for a response whose status the caller did not expect."""
    return FhirClientError(
        f"FHIR server answered {response.status_code}",
        status=response.status_code,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


class _Link(msgspec.Struct):
    relation: str = ""
    url: str = ""


class _Page(msgspec.Struct):
    resourceType: str = ""  # noqa: N815 - FHIR field name
    link: list[_Link] = []


@dataclass(frozen=True, slots=True)
class FhirClient:
    base_url: str
    http: httpx.AsyncClient
    token: str | None = None
    timeout: float = 5.0
    max_pages: int = 50

    def _url(self, path: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _same_server(self, url: str) -> bool:
        """Paging links must stay on the FHIR server: the bearer token never leaves it."""
        base, other = urlsplit(self.base_url), urlsplit(url)
        return (base.scheme, base.netloc) == (other.scheme, other.netloc) and other.path.startswith(
            base.path.rstrip("/")
        )

    async def get(self, url_or_path: str) -> bytes:
        url = url_or_path if _is_absolute(url_or_path) else self._url(url_or_path)
        if not self._same_server(url):
            raise FhirClientError("link points outside the FHIR server base")
        try:
            response = await self.http.get(url, headers=self._headers(), timeout=self.timeout)
        except httpx.TimeoutException:
            raise FhirClientError("FHIR server timed out", transient=True) from None
        except httpx.HTTPError as exc:
            raise FhirClientError(f"FHIR server unreachable: {type(exc).__name__}", transient=True) from None
        if response.status_code != httpx.codes.OK:
            raise error_for(response)
        return response.content

    async def send(
        self,
        method: str,
        url_or_path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Any interaction (create, delete, operations); the caller reads the status.

        Transport failures raise a transient `FhirClientError`; a URL outside the base a permanent one.
        """
        url = url_or_path if _is_absolute(url_or_path) else self._url(url_or_path)
        if not self._same_server(url):
            raise FhirClientError("link points outside the FHIR server base")
        merged = self._headers() | dict(headers or {})
        try:
            return await self.http.request(method, url, content=content, headers=merged, timeout=self.timeout)
        except httpx.TimeoutException:
            raise FhirClientError("FHIR server timed out", transient=True) from None
        except httpx.HTTPError as exc:
            raise FhirClientError(f"FHIR server unreachable: {type(exc).__name__}", transient=True) from None

    async def search(self, path_with_query: str) -> list[bytes]:
        """All pages of a search, following `next` links (bounded by `max_pages`)."""
        pages: list[bytes] = []
        url: str | None = path_with_query
        while url is not None:
            if len(pages) >= self.max_pages:
                raise FhirClientError(f"search has more than {self.max_pages} pages")
            body = await self.get(url)
            pages.append(body)
            url = _next_link(body)
        return pages


def _next_link(body: bytes) -> str | None:
    try:
        page = msgspec.json.decode(body, type=_Page)
    except msgspec.DecodeError:
        return None
    for link in page.link:
        if link.relation == "next" and link.url:
            return link.url
    return None


def _is_absolute(url_or_path: str) -> bool:
    """Only the scheme decides: a search like `Observation?code=http://loinc.org|2731-8` is relative."""
    return url_or_path.split("?", 1)[0].startswith(("http://", "https://"))

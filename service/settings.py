"""The one configuration object. Nothing else in osteoalert reads the environment.

Every setting comes from an `OSTEOALERT_*` variable (or the constructor, in tests); `deploy/env.example`
lists them all and a test keeps it in step with this class.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rules.params import Parameters


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSTEOALERT_", extra="forbid", frozen=True)

    codesets_dir: Path | None = Field(
        default=None,
        description="Directory of site code-set files (same JSON format as rules/codesets) "
        "merged over the bundled ones: local lab codes, products, conditions.",
    )
    rule_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Rule parameter overrides as JSON, by RULES.md name or field name, e.g. "
        '{"CA_WINDOW": 60, "range_ca_total": [8.5, 10.4]}.',
    )
    rule_params_file: Path | None = Field(
        default=None,
        description="TOML or JSON file of rule parameter overrides (applied before rule_params).",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    celery_visibility_timeout_seconds: int = Field(
        default=3600,
        description="Redis visibility timeout: a task not acknowledged within it is redelivered "
        "(longer than any task; acks are late so a killed worker's task comes back).",
    )
    database_url: str = Field(
        default="sqlite:///./osteoalert.db",
        description="SQLAlchemy URL of the store (feedback, alerts). SQLite by default; "
        "postgresql+psycopg://user:pass@host/db in production.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (Celery broker, JWT replay cache). Unset: embedded defaults "
        "(in-process queue, in-memory replay cache).",
    )
    cds_jwt_issuers: dict[str, str] = Field(
        default_factory=dict,
        description="CDS Hooks JWT allow-list as JSON {issuer: JWKS URL}. Unset: the service is "
        "open (a loud warning at start-up).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Allowed CORS origins as JSON, e.g. ["https://ehr.example.org"]; ["*"] only for demos.',
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's public base URL as EHRs call it. CDS Hooks JWTs must carry "
        "aud = <public_base_url>/cds-services/<id> (never derived from the Host header).",
    )
    cds_fetch_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="One overall deadline for fetching what the EHR did not prefetch from its "
        "fhirServer; past it the hook answers 412.",
    )
    cds_max_concurrency: int = Field(
        default=32,
        ge=1,
        description="CDS Hooks calls served at once per process; beyond it calls get 503 with "
        "Retry-After at once (load is shed, not queued).",
    )
    cds_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest CDS Hooks request body accepted (bytes); larger ones get 413.",
    )

    # --- Background path (issue 4): the EHR's FHIR server, notifications, workers -------------------
    fhir_base_url: str | None = Field(
        default=None,
        description="Base URL of the EHR's FHIR R4 server: workers read patients there and write "
        "DetectedIssues back. Unset: notifications are accepted but cannot be evaluated.",
    )
    fhir_auth_mode: Literal["none", "bearer", "smart-backend"] = Field(
        default="none",
        description="How workers authenticate to the FHIR server: none, a static bearer token, or "
        "SMART Backend Services (client_credentials with a private_key_jwt assertion).",
    )
    fhir_auth_token: SecretStr | None = Field(
        default=None, description="The static bearer token (fhir_auth_mode=bearer)."
    )
    fhir_auth_client_id: str | None = Field(
        default=None, description="SMART Backend Services client id (fhir_auth_mode=smart-backend)."
    )
    fhir_auth_token_url: str | None = Field(
        default=None, description="SMART Backend Services token endpoint (fhir_auth_mode=smart-backend)."
    )
    fhir_auth_private_key_path: Path | None = Field(
        default=None,
        description="PEM private key that signs the client assertion (fhir_auth_mode=smart-backend).",
    )
    fhir_auth_key_id: str | None = Field(
        default=None, description="`kid` of the signing key in the JWKS registered with the EHR."
    )
    fhir_auth_alg: Literal["RS384", "ES384"] = Field(
        default="RS384", description="Signature algorithm of the client assertion."
    )
    fhir_auth_scope: str = Field(
        default="system/*.read system/DetectedIssue.write system/Subscription.write",
        description="Scopes requested from the token endpoint (fhir_auth_mode=smart-backend).",
    )
    fhir_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Deadline of one request to the FHIR server."
    )
    fhir_lab_lookback_days: int = Field(
        default=1095, ge=1, description="Laboratory Observations fetched for background evaluation."
    )
    fhir_dxa_lookback_days: int = Field(
        default=1825, ge=1, description="DXA Observations and reports fetched for background evaluation."
    )
    notify_token: SecretStr | None = Field(
        default=None,
        description="Shared secret the EHR sends with each notification (Subscription.channel.header). "
        "Unset: POST /fhir/notify is open.",
    )
    notify_token_header: str = Field(
        default="Authorization",
        description='Header that carries notify_token; for Authorization the value may be "Bearer <token>".',
    )
    notify_max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest notification body accepted (bytes)."
    )
    notify_topic_url: str = Field(
        default="https://osteoalert.org/fhir/SubscriptionTopic/bone-mineral-results",
        description="SubscriptionTopic canonical for `osteoalert subscriptions create`: set it to a topic "
        "your FHIR server offers for new or updated Observations.",
    )
    notify_payload: Literal["empty", "id-only", "full-resource"] = Field(
        default="id-only",
        description="Payload content asked of the EHR by `osteoalert subscriptions create`.",
    )
    notify_heartbeat_seconds: int = Field(
        default=3600,
        ge=10,
        description="Heartbeat period asked of the EHR; silence longer than a subscription's heartbeat "
        "period triggers a $status check.",
    )
    notify_recovery_interval_seconds: int = Field(
        default=60, ge=1, description="How often beat checks subscriptions for gaps and silence."
    )
    notify_recovery_lookback_seconds: int = Field(
        default=86400,
        ge=60,
        description="Recovery search window when no event was seen yet (search by _lastUpdated).",
    )
    notify_gap_grace_seconds: int = Field(
        default=30,
        ge=0,
        description="An event number missing for this long is a gap (recovered), not a late delivery.",
    )
    celery_queue: str = Field(
        default="celery", description="Celery queue the service sends work to and workers consume."
    )
    worker_max_retries: int = Field(
        default=10, ge=0, description="Retries of a task after transient FHIR failures, then failed."
    )
    worker_retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay; doubled at each retry, with jitter."
    )
    worker_retry_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest retry delay (a Retry-After from the server wins)."
    )

    # --- Population sweeps (issue 5) -----------------------------------------------------------------
    sweep_export_dir: Path = Field(
        default=Path("./osteoalert-exports"),
        description="Where `osteoalert sweep --export` keeps Bulk Data downloads and, per source, the "
        "pending job's status URL and the last transactionTime (the next `_since`).",
    )

    # --- Deploy and operate (issue 6) ----------------------------------------------------------------
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Log lines of `osteoalert serve` and the workers: json (one object per line, for a "
        "log collector) or text (development). Both are redacted (service/observability/logging.py).",
    )
    worker_metrics_port: int = Field(
        default=9808,
        ge=0,
        le=65535,
        description="Port of each Celery worker's HTTP server: GET /metrics (Prometheus), /healthz, "
        "/readyz. 0: no server.",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of that server; 0.0.0.0 in containers, so that Prometheus and the "
        "kubelet reach it.",
    )

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"public_base_url must be an absolute http(s) URL, not {value!r}")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("fhir_base_url", "fhir_auth_token_url")
    @classmethod
    def _absolute_fhir_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.fragment:
            raise ValueError(f"expected an absolute http(s) URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fhir_auth_complete(self) -> Settings:
        needed = {
            "bearer": ("fhir_auth_token",),
            "smart-backend": ("fhir_auth_client_id", "fhir_auth_token_url", "fhir_auth_private_key_path"),
        }.get(self.fhir_auth_mode, ())
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"fhir_auth_mode={self.fhir_auth_mode} needs {', '.join(missing)}")
        return self

    def parameters(self) -> Parameters:
        """Rule parameters: guideline defaults, then the file, then the inline overrides."""
        params = Parameters()
        if self.rule_params_file is not None:
            params = params.with_overrides(_read_overrides(self.rule_params_file))
        if self.rule_params:
            params = params.with_overrides(self.rule_params)
        return params


def _read_overrides(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: rule parameter overrides must be a table/object")
    return data

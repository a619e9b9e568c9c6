"""Full validation with the fhir.resources R4B models (the `strict=True` path only).

The R4B models are the closest to FHIR R4 4.0.1 that fhir.resources ships. They validate every
element, including those the rules never read, and cost about 100× the typed-subset decode, so
the hot path never calls this module. A valid resource is re-serialised by the model, so the strict
path reads values exactly as the R4B model understood them (numbers, dates, extensions dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import orjson
import pydantic
from fhir.resources.R4B import get_fhir_model_class


@dataclass(frozen=True, slots=True)
class StrictResult:
    canonical: bytes | None  # the resource as re-serialised by its R4B model, when valid
    problem: str | None  # one line: what the R4B model rejected, and where


def _first_error(resource_type: str, exc: pydantic.ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return f"{resource_type}: rejected by the R4B model"
    first = errors[0]
    path = ".".join(str(part) for part in first["loc"])
    message = " ".join(str(first["msg"]).split())
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{resource_type}.{path}: {message}{more}" if path else f"{resource_type}: {message}{more}"


def validate_resource(resource_type: str, raw: bytes | msgspec.Raw) -> StrictResult:
    """Validate one resource's JSON with its R4B model."""
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return StrictResult(None, f"{resource_type}: not an R4B resource type")
    try:
        data = orjson.loads(bytes(raw))
        instance = model.model_validate(data)
    except orjson.JSONDecodeError as exc:
        return StrictResult(None, f"{resource_type}: not JSON ({exc})")
    except pydantic.ValidationError as exc:
        return StrictResult(None, _first_error(resource_type, exc))
    except (TypeError, ValueError) as exc:  # validators of fhir.resources raise these directly
        return StrictResult(None, f"{resource_type}: {' '.join(str(exc).split())}")
    canonical = instance.model_dump_json(by_alias=True, exclude_none=True).encode()
    return StrictResult(canonical, None)


def bundle_envelope_problem(raw: bytes | msgspec.Raw) -> str | None:
    """Validate a Bundle without its entries' resources (those are validated one by one)."""
    try:
        data = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError as exc:
        return f"Bundle: not JSON ({exc})"
    entries = data.get("entry") if isinstance(data, dict) else None
    if isinstance(entries, list):
        data["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in entries
        ]
    result = validate_resource("Bundle", orjson.dumps(data))
    return result.problem

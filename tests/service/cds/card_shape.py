"""A reusable check of CDS Hooks 2.0 response bodies and discovery documents against the spec's MUSTs.

`assert_valid_cds_response(body)` enforces, for the response and every card (cds-hooks.hl7.org 2.0,
"CDS Service Response", "Card Attributes", "Data Types", "Use of JSON"):

- `cards` is an array (empty allowed); `systemActions`, when present, an array of Actions whose
  `description` may be omitted;
- no JSON value is null or empty (`""`, `[]`, `{}`) except the `cards` array itself;
- card: `uuid` a string if present; `summary` a string under 140 characters; `detail` a string;
  `indicator` one of info / warning / critical; `source` an object with a `label`, absolute
  `url`/`icon` when present, and `topic` a Coding (`system` and `code`);
- `suggestions` need `selectionBehavior` (`at-most-one` or `any`); at most one suggestion is
  recommended under `at-most-one`; each suggestion has a `label`, a string `uuid` if present,
  a boolean `isRecommended` if present, and Actions;
- Action: `type` create / update / delete and a `description`; create/update carry a `resource`
  of a concrete FHIR type (validated with the R4B model unless `validate_resources=False`, for the
  spec's own abbreviated examples); delete names the resource by `resourceId` (`Type/id`);
- `overrideReasons` are Codings with `system`, `code` and `display`;
- links have a `label`, a `url` and a `type` absolute | smart; absolute links use absolute URLs;
  `appContext` only on smart links; `autolaunchable` is a boolean.

Unknown attributes are allowed (the spec's `extension` mechanism). Two readings to know: the 2.0.1
autolaunchable example response omits the REQUIRED `indicator` (a spec erratum: rejected here), and
`resourceId` is one `Type/id` string in the 2.0.1 text and examples (an array of them is tolerated).
`assert_osteoalert_cards` adds our own contract on top: uuids present and unique, `source.topic`
in the rule code system.
`assert_valid_discovery` checks a discovery document and the prefetch query subset the spec
recommends ("Prefetch query restrictions").
"""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlsplit

from service.adapters.fhir_resources_out import is_resource_type, validate_resource

INDICATORS = frozenset({"info", "warning", "critical"})
SELECTION_BEHAVIORS = frozenset({"at-most-one", "any"})
ACTION_SELECTION_BEHAVIORS = frozenset({"all", "any", "at-most-one"})
ACTION_TYPES = frozenset({"create", "update", "delete"})
LINK_TYPES = frozenset({"absolute", "smart"})
SUMMARY_LIMIT = 140

_RELATIVE_REFERENCE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_TOKEN = re.compile(r"\{\{[^{}]+\}\}")


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def _is_str(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _no_null_or_empty(value: Any, path: str, errors: _Errors) -> None:
    """Use of JSON: elements SHALL NOT be null or empty (`cards` is the one exception)."""
    if value is None:
        errors.add(path, "null is not allowed (omit the attribute)")
    elif isinstance(value, str | list | dict) and len(value) == 0:
        errors.add(path, "empty values are not allowed (omit the attribute)")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_null_or_empty(item, f"{path}.{key}", errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_null_or_empty(item, f"{path}[{i}]", errors)


def _check_coding(value: Any, path: str, errors: _Errors, *, display: bool) -> None:
    if not isinstance(value, dict):
        errors.add(path, "must be a Coding object")
        return
    required = ("system", "code", "display") if display else ("system", "code")
    for key in required:
        if not _is_str(value.get(key)):
            errors.add(f"{path}.{key}", "is required (string)")


def _check_resource(resource: Any, path: str, errors: _Errors, *, validate: bool) -> None:
    if not isinstance(resource, dict):
        errors.add(path, "must be a FHIR resource object")
        return
    name = resource.get("resourceType")
    if not isinstance(name, str) or not is_resource_type(name):
        errors.add(f"{path}.resourceType", f"{name!r} is not a FHIR resource type")
        return
    if validate:
        try:
            validate_resource(resource)
        except ValueError as exc:
            errors.add(path, str(exc).splitlines()[0])


def _check_resource_id(value: Any, path: str, errors: _Errors) -> None:
    # The 2.0.1 text and examples give one relative reference; some readings use an array of them.
    refs = value if isinstance(value, list) and value else [value]
    for ref in refs:
        match = _RELATIVE_REFERENCE.fullmatch(ref) if isinstance(ref, str) else None
        if match is None or not is_resource_type(match.group(1)):
            errors.add(path, f"{ref!r} is not a relative reference Type/id")


def _check_action(action: Any, path: str, errors: _Errors, *, validate: bool, system: bool = False) -> None:
    if not isinstance(action, dict):
        errors.add(path, "must be an Action object")
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        errors.add(f"{path}.type", f"{kind!r} is not one of create/update/delete")
    if not system and not _is_str(action.get("description")):
        errors.add(f"{path}.description", "is required (string)")
    elif "description" in action and not isinstance(action["description"], str):
        errors.add(f"{path}.description", "must be a string")
    if kind in {"create", "update"}:
        if "resource" not in action:
            errors.add(f"{path}.resource", f"is required for {kind}")
        else:
            _check_resource(action["resource"], f"{path}.resource", errors, validate=validate)
    if kind == "delete":
        if "resourceId" not in action:
            errors.add(f"{path}.resourceId", "is required for delete")
        else:
            _check_resource_id(action["resourceId"], f"{path}.resourceId", errors)


def _check_suggestion(suggestion: Any, path: str, errors: _Errors, *, validate: bool) -> None:
    if not isinstance(suggestion, dict):
        errors.add(path, "must be a Suggestion object")
        return
    if not _is_str(suggestion.get("label")):
        errors.add(f"{path}.label", "is required (string)")
    if "uuid" in suggestion and not isinstance(suggestion["uuid"], str):
        errors.add(f"{path}.uuid", "must be a string")
    if "isRecommended" in suggestion and not isinstance(suggestion["isRecommended"], bool):
        errors.add(f"{path}.isRecommended", "must be a boolean")
    behavior = suggestion.get("actionSelectionBehavior")
    if behavior is not None and behavior not in ACTION_SELECTION_BEHAVIORS:
        errors.add(f"{path}.actionSelectionBehavior", f"{behavior!r} is not all/any/at-most-one")
    actions = suggestion.get("actions", [])
    if not isinstance(actions, list):
        errors.add(f"{path}.actions", "must be an array")
        return
    for i, action in enumerate(actions):
        _check_action(action, f"{path}.actions[{i}]", errors, validate=validate)


def _check_source(source: Any, path: str, errors: _Errors) -> None:
    if not isinstance(source, dict):
        errors.add(path, "is required (object)")
        return
    if not _is_str(source.get("label")):
        errors.add(f"{path}.label", "is required (string)")
    for key in ("url", "icon"):
        if key in source and not _is_absolute_url(source[key]):
            errors.add(f"{path}.{key}", "must be an absolute URL")
    if "topic" in source:
        _check_coding(source["topic"], f"{path}.topic", errors, display=False)


def _check_link(link: Any, path: str, errors: _Errors) -> None:
    if not isinstance(link, dict):
        errors.add(path, "must be a Link object")
        return
    if not _is_str(link.get("label")):
        errors.add(f"{path}.label", "is required (string)")
    if not _is_str(link.get("url")):
        errors.add(f"{path}.url", "is required (URL)")
    kind = link.get("type")
    if kind not in LINK_TYPES:
        errors.add(f"{path}.type", f"{kind!r} is not absolute/smart")
    if kind == "absolute":
        if not _is_absolute_url(link.get("url")):
            errors.add(f"{path}.url", "an absolute link needs an absolute URL")
        if "appContext" in link:
            errors.add(f"{path}.appContext", "is only valid on smart links")
    if "appContext" in link and not isinstance(link["appContext"], str):
        errors.add(f"{path}.appContext", "must be a string")
    if "autolaunchable" in link and not isinstance(link["autolaunchable"], bool):
        errors.add(f"{path}.autolaunchable", "must be a boolean")


def _check_card(card: Any, path: str, errors: _Errors, *, validate: bool) -> None:
    if not isinstance(card, dict):
        errors.add(path, "must be a Card object")
        return
    if "uuid" in card and not isinstance(card["uuid"], str):
        errors.add(f"{path}.uuid", "must be a string")
    summary = card.get("summary")
    if not _is_str(summary):
        errors.add(f"{path}.summary", "is required (string)")
    elif len(summary) >= SUMMARY_LIMIT:
        errors.add(f"{path}.summary", f"has {len(summary)} characters (must be < {SUMMARY_LIMIT})")
    if "detail" in card and not isinstance(card["detail"], str):
        errors.add(f"{path}.detail", "must be a (markdown) string")
    if card.get("indicator") not in INDICATORS:
        errors.add(f"{path}.indicator", f"{card.get('indicator')!r} is not info/warning/critical")
    _check_source(card.get("source"), f"{path}.source", errors)
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            errors.add(f"{path}.suggestions", "must be an array")
            suggestions = []
        for i, suggestion in enumerate(suggestions):
            _check_suggestion(suggestion, f"{path}.suggestions[{i}]", errors, validate=validate)
        behavior = card.get("selectionBehavior")
        if behavior not in SELECTION_BEHAVIORS:
            errors.add(f"{path}.selectionBehavior", f"{behavior!r}: required with suggestions")
        recommended = [s for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True]
        if behavior == "at-most-one" and len(recommended) > 1:
            errors.add(f"{path}.suggestions", "at-most-one allows one recommended suggestion")
    elif "selectionBehavior" in card and card["selectionBehavior"] not in SELECTION_BEHAVIORS:
        errors.add(f"{path}.selectionBehavior", f"{card['selectionBehavior']!r} is not at-most-one/any")
    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            errors.add(f"{path}.overrideReasons", "must be an array")
        else:
            for i, reason in enumerate(reasons):
                _check_coding(reason, f"{path}.overrideReasons[{i}]", errors, display=True)
    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            errors.add(f"{path}.links", "must be an array")
        else:
            for i, link in enumerate(links):
                _check_link(link, f"{path}.links[{i}]", errors)


def cds_response_errors(body: Any, *, validate_resources: bool = True) -> list[str]:
    """Every violation of a CDS Hooks 2.0 MUST in a service response body (empty when valid)."""
    errors = _Errors()
    if not isinstance(body, dict):
        return ["$: the response must be a JSON object"]
    cards = body.get("cards")
    if not isinstance(cards, list):
        errors.add("$.cards", "is required (array)")
        cards = []
    for key, value in body.items():
        if key == "cards" and isinstance(value, list):
            for i, card in enumerate(value):
                _no_null_or_empty(card, f"$.cards[{i}]", errors)
        else:
            _no_null_or_empty(value, f"$.{key}", errors)
    for i, card in enumerate(cards):
        _check_card(card, f"$.cards[{i}]", errors, validate=validate_resources)
    actions = body.get("systemActions")
    if actions is not None:
        if not isinstance(actions, list):
            errors.add("$.systemActions", "must be an array")
        else:
            for i, action in enumerate(actions):
                _check_action(
                    action, f"$.systemActions[{i}]", errors, validate=validate_resources, system=True
                )
    return errors.items


def assert_valid_cds_response(body: dict[str, Any], *, validate_resources: bool = True) -> None:
    """Raise AssertionError listing every CDS Hooks 2.0 violation in `body`."""
    errors = cds_response_errors(body, validate_resources=validate_resources)
    if errors:
        raise AssertionError("invalid CDS Hooks response:\n  " + "\n  ".join(errors))


def assert_osteoalert_cards(body: dict[str, Any], rule_code_system: str) -> None:
    """Our contract on top of the spec: card and suggestion uuids present and unique, card uuids
    are UUIDs, and `source.topic` is in the rule code system."""
    assert_valid_cds_response(body)
    problems: list[str] = []
    seen: set[str] = set()
    for i, card in enumerate(body["cards"]):
        uid = card.get("uuid", "")
        try:
            uuid.UUID(uid)
        except (ValueError, TypeError, AttributeError):
            problems.append(f"$.cards[{i}].uuid: {uid!r} is not a UUID")
        if uid in seen:
            problems.append(f"$.cards[{i}].uuid: repeated")
        seen.add(uid)
        topic = card["source"].get("topic", {})
        if topic.get("system") != rule_code_system:
            problems.append(f"$.cards[{i}].source.topic: not in the rule code system")
        for j, suggestion in enumerate(card.get("suggestions", [])):
            sid = suggestion.get("uuid")
            if sid is None or sid in seen:
                problems.append(f"$.cards[{i}].suggestions[{j}].uuid: missing or repeated")
            seen.add(sid)
    if problems:
        raise AssertionError("osteoalert card contract:\n  " + "\n  ".join(problems))


# ---- discovery --------------------------------------------------------------------------------


def prefetch_template_errors(template: str) -> list[str]:
    """Violations of the spec's prefetch query subset in one template (empty when it conforms).

    Allowed: an instance read `Type/{{token}}`, or a type search with resource references, token
    parameters by equality (optionally `:in`), date parameters with eq/lt/gt/ge/le prefixes only,
    `_count` and `_sort`.
    """
    path, _, query = template.partition("?")
    errors: list[str] = []
    if _TOKEN.fullmatch(path) and not query:
        return errors  # a read of a context reference, e.g. {{context.userId}}
    resource_type, _, instance = path.partition("/")
    if not is_resource_type(resource_type):
        errors.append(f"{resource_type!r} is not a FHIR resource type")
    if instance and (query or "/" in instance):
        errors.append("only instance reads and type-level searches are allowed")
    for name, value in parse_qsl(query, keep_blank_values=True):
        base, _, modifier = name.partition(":")
        if not value:
            errors.append(f"{name}: empty value")
        if base.startswith("_") and base not in {"_count", "_sort", "_id"}:
            errors.append(f"{name}: result parameter not in the subset")
        if modifier and modifier != "in":
            errors.append(f"{name}: modifier :{modifier} is not allowed (only :in)")
        if base == "date" or base.endswith("-date"):
            stripped = _TOKEN.sub("", value)
            if stripped[:2].isalpha() and stripped[:2] not in {"eq", "lt", "gt", "ge", "le"}:
                errors.append(f"{name}: date prefix {stripped[:2]!r} is not allowed")
    return errors


def discovery_errors(body: Any) -> list[str]:
    """Every violation of the discovery response rules (and of the prefetch query subset)."""
    errors = _Errors()
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        return ["$.services: is required (array)"]
    for key, value in body.items():
        if key != "services":
            _no_null_or_empty(value, f"$.{key}", errors)
    for i, service in enumerate(body["services"]):
        path = f"$.services[{i}]"
        if not isinstance(service, dict):
            errors.add(path, "must be an object")
            continue
        _no_null_or_empty(service, path, errors)
        for key in ("hook", "description", "id"):
            if not _is_str(service.get(key)):
                errors.add(f"{path}.{key}", "is required (string)")
        for key in ("title", "usageRequirements"):
            if key in service and not isinstance(service[key], str):
                errors.add(f"{path}.{key}", "must be a string")
        prefetch = service.get("prefetch", {})
        if not isinstance(prefetch, dict):
            errors.add(f"{path}.prefetch", "must be an object")
            continue
        for key, template in prefetch.items():
            if not isinstance(template, str):
                errors.add(f"{path}.prefetch.{key}", "must be a string")
                continue
            for problem in prefetch_template_errors(template):
                errors.add(f"{path}.prefetch.{key}", problem)
    return errors.items


def assert_valid_discovery(body: dict[str, Any]) -> None:
    errors = discovery_errors(body)
    if errors:
        raise AssertionError("invalid CDS Hooks discovery document:\n  " + "\n  ".join(errors))

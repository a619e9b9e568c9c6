"""Raw FHIR R4 JSON bytes → one patient's typed resources (`PatientResources`).

Accepted input: a Bundle of any type (nested Bundles too), a single Patient, or NDJSON lines of one
patient. Two paths, same result:

* fast: the whole input in one msgspec call, every resource a tagged Struct of `fhir_model` (the
  types the rules read decode their few fields; every other type is an empty Struct, i.e. skipped
  without building anything);
* per resource, when the fast call fails anywhere: entries kept as `msgspec.Raw`, the type read
  from the first bytes, each resource decoded on its own, so that a resource whose fields have the
  wrong JSON type is rejected alone (`rejected`, reason `invalid-resource: <why>`).

The same two paths serve inputs made of several documents (`Decoded.add_document`: prefetch values,
search pages) and NDJSON lines (`iter_ndjson_resources`: a group of lines in one msgspec call).

`strict=True` validates every resource with the fhir.resources R4B models first (`fhir_strict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import msgspec

from rules.findings import Ignored
from service.adapters import fhir_model as fm
from service.adapters.fhir_assemble import (
    FhirInputError,
    PatientResources,
    assemble,
    patient_date_problem,
)
from service.adapters.fhir_peek import describe_error, peek_type, ref_for
from service.adapters.fhir_refs import References
from service.adapters.fhir_strict import bundle_envelope_problem, validate_resource

__all__ = [
    "Decoded",
    "FhirInputError",
    "PatientResources",
    "decode_ndjson_block",
    "decode_resources",
    "iter_ndjson_resources",
    "read_document",
    "read_patient_bundle",
]

_DECODERS = {name: msgspec.json.Decoder(typ) for name, typ in fm.TYPES.items()}
_MAX_NESTING = 4


class _Top(msgspec.Struct, rename="camel"):
    resource_type: str | None = None


class _Entry(msgspec.Struct, rename="camel"):
    full_url: str | None = None
    resource: msgspec.Raw = msgspec.Raw()  # empty when the entry has no resource


class _Bundle(msgspec.Struct):
    entry: list[_Entry] = []


_TOP = msgspec.json.Decoder(_Top)
_ANY = msgspec.json.Decoder(fm.AnyResource)
_KEPT = frozenset(fm.TYPES.values())
_INLINE = _KEPT - {fm.Patient}
_WALKED = _KEPT | {fm.Bundle}
_PREFIX = {kind: f"{kind.__name__}/" for kind in _INLINE}  # of the canonical reference "Type/id"
_BATCH = 256  # NDJSON lines per msgspec call
_BUNDLE = msgspec.json.Decoder(_Bundle)


@dataclass
class Decoded:
    """Everything read from one input, by resource type, before the one-patient checks."""

    by_type: dict[type[fm.Resource], list[fm.Resource]] = field(default_factory=dict)
    rejected: list[Ignored] = field(default_factory=list)
    refs: References = field(default_factory=References)
    strict: bool = False

    @property
    def resources(self) -> list[fm.Resource]:
        return [r for group in self.by_type.values() for r in group]

    def reject(self, reference: str, why: str) -> None:
        self.rejected.append(Ignored(reference, f"invalid-resource: {why}"))

    def add_document(self, raw: bytes | msgspec.Raw, where: str) -> None:
        """`add` for one whole document (a prefetch value, a search page): in one msgspec call when
        every resource in it decodes, else resource by resource (rejecting only the bad ones)."""
        fast = None if self.strict else read_document(raw, where)
        if fast is None:
            self.add(raw, where, None)
        else:
            self.merge(fast[1])

    def merge(self, other: Decoded) -> None:
        """What `other` read, as if this instance had read it (after what it has read)."""
        by_type = self.by_type
        for kind, group in other.by_type.items():
            mine = by_type.get(kind)
            if mine is None:
                by_type[kind] = list(group)
            else:
                mine.extend(group)
        self.rejected.extend(other.rejected)
        self.refs.aliases.update(other.refs.aliases)

    def add(self, raw: bytes | msgspec.Raw, where: str, full_url: str | None, depth: int = 0) -> None:
        """Decode one resource (a Bundle entry, an NDJSON line or the whole input), resource by
        resource: what fails to decode is rejected alone."""
        try:
            rtype, rid = peek_type(raw)
        except msgspec.ValidationError:
            self.reject(full_url or where, f"{where}: expected a JSON object")
            return
        except msgspec.DecodeError as exc:
            self.reject(full_url or where, f"{where}: not JSON: {exc}")
            return
        if rtype is None:
            self.reject(full_url or where, f"{where}: no resourceType")
        elif rtype == "Bundle":
            self.add_bundle(raw, where, depth + 1)
        elif self.strict:
            self._add_strict(raw, rtype, rid, where, full_url)
        elif rtype in _DECODERS:  # other types are skipped: nothing is built for them
            self._decode(raw, raw, rtype, where, full_url)

    def _add_strict(
        self, raw: bytes | msgspec.Raw, rtype: str, rid: str | None, where: str, full_url: str | None
    ) -> None:
        checked = validate_resource(rtype, raw)
        if checked.problem is not None or checked.canonical is None:
            self.reject(ref_for(raw, rtype, rid, full_url, where), f"{where}: {checked.problem}")
        elif rtype in _DECODERS:
            # Our reading of the input must succeed too; the values are read as R4B read them.
            self._decode(raw, checked.canonical, rtype, where, full_url)

    def _decode(
        self, raw: bytes | msgspec.Raw, source: bytes | msgspec.Raw, rtype: str, where: str,
        full_url: str | None,
    ) -> None:  # fmt: skip
        decoder = _DECODERS[rtype]
        try:
            resource = decoder.decode(raw)
            if source is not raw:
                resource = decoder.decode(source)
        except msgspec.ValidationError as exc:
            ref = ref_for(raw, rtype, None, full_url, where)
            self.reject(ref, f"{where}: {describe_error(rtype, exc)}")
            return
        except msgspec.DecodeError as exc:
            self.reject(full_url or where, f"{where}: not JSON: {exc}")
            return
        self.keep(resource, where, full_url)

    def keep(self, resource: fm.Resource, where: str, full_url: str | None) -> None:
        kind = type(resource)
        rid = resource.id
        name = kind.__name__
        resource.ref = f"{name}/{rid}" if rid else self.refs.register(name, rid, full_url, where)
        if full_url is not None and full_url != resource.ref:
            self.refs.aliases[full_url] = resource.ref
        if isinstance(resource, fm.Patient):
            problem = patient_date_problem(resource)  # dates are read later, but a Patient's now
            if problem is not None:
                self.rejected.append(Ignored(resource.ref, f"{problem.replace(': ', f': {where}: ', 1)}"))
                return
        group = self.by_type.get(kind)
        if group is None:
            self.by_type[kind] = [resource]
        else:
            group.append(resource)

    def walk(self, items: list[fm.Resource], where: str, depth: int) -> None:
        """Keep the typed resources of an already decoded input (the fast path)."""
        single = len(items) == 1
        by_type = self.by_type
        for i, item in enumerate(items):
            kind = type(item)
            if kind not in _WALKED:
                continue  # a type the rules never read
            rid = item.id
            if rid and kind in _INLINE:  # the common case, inlined
                item.ref = _PREFIX[kind] + rid
                group = by_type.get(kind)
                if group is None:
                    by_type[kind] = [item]
                else:
                    group.append(item)
                continue
            place = where if single else f"{where} {i + 1}"
            if isinstance(item, fm.Bundle):
                if depth + 1 > _MAX_NESTING:
                    raise FhirInputError(f"{place}: Bundles nested more than {_MAX_NESTING} deep")
                self._walk_entries(item, "" if place == "(input)" else f"{place}.", depth + 1)
            elif kind in _KEPT:
                self.keep(item, place, None)

    def _walk_entries(self, bundle: fm.Bundle, prefix: str, depth: int) -> None:
        by_type = self.by_type
        aliases = self.refs.aliases
        for n, entry in enumerate(bundle.entry):
            kind = type(entry.resource)
            if kind not in _WALKED:
                continue  # no resource, or a type the rules never read
            item = cast(fm.Resource, entry.resource)  # not UNSET: UnsetType is not walked
            rid = item.id
            if rid and kind in _INLINE:  # `keep`, inlined for the common case
                ref = item.ref = _PREFIX[kind] + rid
                full_url = entry.full_url
                if full_url is not None and full_url != ref:
                    aliases[full_url] = ref
                group = by_type.get(kind)
                if group is None:
                    by_type[kind] = [item]
                else:
                    group.append(item)
            elif kind is fm.Bundle:
                self.walk([item], f"{prefix}entry[{n}].resource", depth)
            else:
                self.keep(item, f"{prefix}entry[{n}].resource", entry.full_url)

    def add_bundle(self, raw: bytes | msgspec.Raw, where: str, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise FhirInputError(f"{where}: Bundles nested more than {_MAX_NESTING} deep")
        if self.strict:
            problem = bundle_envelope_problem(raw)
            if problem is not None:
                raise FhirInputError(f"{where}: {problem}")
        try:
            bundle = _BUNDLE.decode(raw)
        except msgspec.ValidationError as exc:
            raise FhirInputError(f"{where}: {describe_error('Bundle', exc)}") from None
        prefix = "" if where == "(input)" else f"{where}."
        for i, entry in enumerate(bundle.entry):
            if len(entry.resource):
                self.add(entry.resource, f"{prefix}entry[{i}].resource", entry.full_url, depth)


def _ndjson(out: Decoded, data: bytes) -> None:
    """NDJSON: the first line must be JSON (else the input is not JSON); later bad lines are
    rejected one by one."""
    n = 0
    for line in data.split(b"\n"):
        n += 1
        if not line.strip():
            continue
        if not out.by_type and not out.rejected:
            try:
                _TOP.decode(line)
            except msgspec.DecodeError as exc:
                raise FhirInputError(f"line {n}: not JSON: {exc}") from None
        out.add(line, f"line {n}", None)


def _fast(data: bytes) -> Decoded | None:
    """One msgspec call for the whole input (all resource types are tagged Structs); None when
    anything is off (a wrong type anywhere, an unknown resource type, ...): the caller then takes
    the per-resource path, which says what is wrong and rejects only that resource."""
    items = _lines_first(data) if _looks_like_ndjson(data) else None
    if items is None:
        try:
            items = [_ANY.decode(data)]
        except msgspec.DecodeError as exc:
            if "trailing characters" not in str(exc):
                return None
            try:
                items = _ANY.decode_lines(data)
            except msgspec.DecodeError:
                return None
    return _walked(items, "(input)" if len(items) == 1 else "line")


def _looks_like_ndjson(data: bytes) -> bool:
    """A first line that closes an object, and another object after it."""
    end = data.find(b"\n")
    return end > 0 and data[:end].rstrip().endswith(b"}") and data.find(b"{", end) > 0


def _lines_first(data: bytes) -> list[fm.Resource] | None:
    """NDJSON in one call (what `_fast` ends with anyway for NDJSON, after first failing to read
    it as one value); None when that fails or reads nothing: `_fast` then goes its usual way."""
    try:
        items = _ANY.decode_lines(data)
    except msgspec.DecodeError:
        return None
    return items or None


def read_document(raw: bytes | msgspec.Raw, where: str) -> tuple[str, Decoded] | None:
    """One document of a larger input (a prefetch value, a search page) in one msgspec call:
    its resourceType and what it holds, to `Decoded.merge`; None when anything is off (the caller
    then takes the per-resource path, `Decoded.add`)."""
    try:
        item = _ANY.decode(raw)
    except msgspec.DecodeError:
        return None
    out = _walked([item], where)
    return None if out is None else (item.resource_type, out)


def _walked(items: list[fm.Resource], where: str) -> Decoded | None:
    out = Decoded()
    try:
        out.walk(items, where, 0)
    except FhirInputError:
        return None
    return out


def decode_resources(data: bytes, *, strict: bool = False) -> Decoded:
    """Every resource of a Bundle / single resource / NDJSON input, typed, with rejections."""
    if not strict:
        fast = _fast(data)
        if fast is not None:
            return fast
    out = Decoded(strict=strict)
    try:
        top = _TOP.decode(data)
    except msgspec.ValidationError:
        raise FhirInputError("not a FHIR resource: expected a JSON object") from None
    except msgspec.DecodeError as exc:
        if "trailing characters" not in str(exc) or b"\n" not in data.strip():
            raise FhirInputError(f"not JSON: {exc}") from None
        _ndjson(out, data)
        return out
    if top.resource_type is None:
        raise FhirInputError("not a FHIR resource: no resourceType")
    out.add(data, "(input)", None)
    return out


def read_patient_bundle(data: bytes, *, strict: bool = False) -> PatientResources:
    """One patient's resources; raises `FhirInputError` when there is not exactly one Patient."""
    decoded = decode_resources(data, strict=strict)
    return assemble(decoded.by_type, decoded.rejected, decoded.refs)


def iter_ndjson_resources(lines: Iterable[bytes], *, strict: bool = False) -> Iterator[fm.Resource | Ignored]:
    """Population sweeps: one typed resource (or rejection) per NDJSON line; other types skipped.

    References are not resolved across lines (bulk exports already use `Type/id` references):
    group by `fhir_assemble.patient_reference`, then call `fhir_assemble.assemble`.
    A list (or tuple) of lines is decoded up to `_BATCH` lines per msgspec call; any other
    iterable, line by line, as it comes.
    """
    if strict or not isinstance(lines, Sequence):
        yield from _ndjson_lines(enumerate(lines, start=1), strict=strict)
        return
    for first in range(0, len(lines), _BATCH):
        yield from _ndjson_batch(lines[first : first + _BATCH], first + 1)


def decode_ndjson_block(block: bytes, *, strict: bool = False) -> list[fm.Resource | Ignored]:
    """`iter_ndjson_resources` for one patient's lines held as one block of bytes, each line ending
    in a newline and none blank (how a sweep's shard holds them): decoded in one msgspec call, with
    no list of lines built unless a line is bad (then line by line, rejecting only that line)."""
    if strict:
        return list(_ndjson_lines(enumerate(_split_lines(block), start=1), strict=True))
    return _ndjson_block(block, block.count(b"\n"), None, 1)


def _split_lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _ndjson_batch(lines: Sequence[bytes], first: int) -> list[fm.Resource | Ignored]:
    return _ndjson_block(b"\n".join(lines), len(lines), lines, first)


def _ndjson_block(
    data: bytes, expected: int, lines: Sequence[bytes] | None, first: int
) -> list[fm.Resource | Ignored]:
    """`expected` NDJSON lines (numbered from `first`; `lines`, when the caller has them split) in
    one msgspec call, which skips blank lines; when any line fails (or holds more than one value),
    line by line, which says what is wrong and rejects only that line. A list, not a generator: a
    sweep calls this once per patient, on its hot path."""
    try:
        items = _ANY.decode_lines(data)
    except msgspec.DecodeError:
        items = []
    if len(items) != expected or not items:
        every = _split_lines(data) if lines is None else lines
        return list(_ndjson_lines(enumerate(every, start=first), strict=False))
    out: list[fm.Resource | Ignored] = []
    for n, item in enumerate(items, start=first):
        kind = type(item)
        rid = item.id
        if rid and kind in _INLINE:
            item.ref = _PREFIX[kind] + rid
            out.append(item)
        elif kind is fm.Bundle:
            line = (_split_lines(data) if lines is None else lines)[n - first]
            out.extend(_ndjson_lines(iter([(n, line)]), strict=False))
        elif kind in _KEPT:  # a Patient, or a resource without an id
            decoded = Decoded()
            decoded.keep(item, f"line {n}", None)
            out.extend(decoded.rejected)
            out.extend(decoded.resources)
    return out


def _ndjson_lines(lines: Iterator[tuple[int, bytes]], *, strict: bool) -> Iterator[fm.Resource | Ignored]:
    for n, line in lines:
        if not line.strip():
            continue
        if not strict:  # one msgspec call per line; anything odd takes the per-resource path
            try:
                item = _ANY.decode(line)
            except msgspec.DecodeError:
                item = None
            if item is not None and not isinstance(item, fm.Bundle):
                if type(item) in _INLINE and item.id:
                    item.ref = f"{type(item).__name__}/{item.id}"
                    yield item
                    continue
                if type(item) not in _KEPT:
                    continue  # a type the rules never read
        out = Decoded(strict=strict)
        try:
            out.add(line, f"line {n}", None)
        except FhirInputError as exc:
            yield Ignored(f"line {n}", f"invalid-resource: {exc}")
            continue
        yield from out.rejected
        yield from out.resources

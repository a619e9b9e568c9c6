"""Where Bulk Data exports land, and what is remembered per source between runs.

    <root>/state.json                      {source URL: SourceState}
    <root>/<source key>/<layer>/...        one folder per completed export (NDJSON per type,
                                           errors/ and deleted/ beside them)

A full export (no `_since`) starts a new base layer and drops the older ones; an incremental export
(`_since` = the previous `transactionTime`) adds a layer on top. The sweep reads the layers in
order, so the newest copy of a resource wins: an incremental run still sees each patient's whole
record, not only what changed. The pending job's status URL is stored before the first poll, so
a restarted run resumes it instead of starting another export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import msgspec


class SourceState(msgspec.Struct, omit_defaults=True):
    transaction_time: str | None = None  # of the last completed export: the next `_since`
    layers: list[str] = []  # completed export folders, oldest first
    status_url: str | None = None  # the pending job, when a run was interrupted
    pending_since: str | None = None  # the `_since` the pending job was started with
    pending_layer: str | None = None


class _StateFile(msgspec.Struct):
    sources: dict[str, SourceState] = {}


@dataclass
class ExportStore:
    root: Path
    _cache: _StateFile | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.root / "state.json"

    def _load(self) -> _StateFile:
        if self._cache is None:
            raw = self.path.read_bytes() if self.path.exists() else b"{}"
            self._cache = msgspec.json.decode(raw, type=_StateFile)
        return self._cache

    def get(self, source: str) -> SourceState:
        return self._load().sources.get(source, SourceState())

    def put(self, source: str, state: SourceState) -> None:
        """Written to a temporary file and renamed: a crash never leaves half a state file."""
        data = self._load()
        data.sources[source] = state
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(msgspec.json.format(msgspec.json.encode(data), indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def source_dir(self, source: str) -> Path:
        return self.root / hashlib.sha256(source.encode()).hexdigest()[:16]

    def layer_dirs(self, source: str) -> list[Path]:
        return [self.source_dir(source) / name for name in self.get(source).layers]

    def new_layer_name(self, source: str) -> str:
        state = self.get(source)
        used = [*state.layers, *([state.pending_layer] if state.pending_layer else [])]
        return f"{max((int(n) for n in used), default=0) + 1:06d}"

    def begin(self, source: str, status_url: str, since: str | None) -> SourceState:
        state = self.get(source)
        layer = state.pending_layer or self.new_layer_name(source)
        state = replace_state(state, status_url=status_url, pending_since=since, pending_layer=layer)
        self.put(source, state)
        return state

    def forget_pending(self, source: str) -> None:
        state = self.get(source)
        if state.pending_layer:
            shutil.rmtree(self.source_dir(source) / state.pending_layer, ignore_errors=True)
        self.put(source, replace_state(state, status_url=None, pending_since=None, pending_layer=None))

    def complete(self, source: str, transaction_time: str) -> list[Path]:
        """Record the finished export; return the layers the sweep reads, oldest first."""
        state = self.get(source)
        layer = state.pending_layer or self.new_layer_name(source)
        if state.pending_since is None:  # a full export replaces everything before it
            for old in state.layers:
                shutil.rmtree(self.source_dir(source) / old, ignore_errors=True)
            layers = [layer]
        else:
            layers = [*state.layers, layer]
        self.put(source, SourceState(transaction_time=transaction_time, layers=layers))
        return self.layer_dirs(source)


def replace_state(state: SourceState, **changes: object) -> SourceState:
    return msgspec.structs.replace(state, **changes)

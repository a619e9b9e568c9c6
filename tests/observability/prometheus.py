"""Reading the Prometheus text exposition in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the series has no sample yet (a counter not moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def families(text: str) -> set[str]:
    """The metric family names, as declared by # TYPE lines (counters without `_total`)."""
    return {f.name for f in text_string_to_metric_families(text)}

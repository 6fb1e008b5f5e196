"""A small in-process metrics registry, rendered in the Prometheus text format (0.0.4).

Why not ``prometheus_client``: we need three things (counters, histograms with fixed buckets,
gauges read at scrape time), the hot path must cost a dict lookup and a few additions, and
every node runs one asyncio loop, so no locks are needed. Each app owns one registry
(``registry_of``), so several apps in one process (the tests) never mix their figures.

Series are keyed by a tuple of label values in the order of the metric's ``labels``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Labels = tuple[str, ...]
Sample = tuple[Labels, float]

#: Request durations in seconds. Up to 60 s because ``/sync`` long-polls for up to 30 s.
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class Counter:
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Labels) -> None:
        self.name, self.help, self.labels = name, help_text, labels
        self.values: dict[Labels, float] = {}

    def inc(self, key: Labels, amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def lines(self) -> Iterable[str]:
        for key, value in self.values.items():
            yield f"{self.name}{_labels(self.labels, key)} {_num(value)}"


class Histogram:
    """Observations counted into fixed buckets per label set.

    Each series keeps one count per bucket (not cumulative) plus an overflow slot; the
    cumulative ``le`` counts Prometheus expects are added up at scrape time, so an observation
    is one ``bisect`` and three additions.
    """

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labels: Labels, buckets: tuple[float, ...]
    ) -> None:
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("histogram buckets must be increasing and distinct")
        self.name, self.help, self.labels, self.buckets = name, help_text, labels, buckets
        # labels -> [count per bucket..., count above the last bucket, sum]
        self.series: dict[Labels, list[float]] = {}

    def observe(self, key: Labels, value: float) -> None:
        row = self.series.get(key)
        if row is None:
            row = self.series[key] = [0.0] * (len(self.buckets) + 2)
        row[bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def lines(self) -> Iterable[str]:
        bounds = [*(_num(b) for b in self.buckets), "+Inf"]
        for key, row in self.series.items():
            running = 0.0
            for bound, count in zip(bounds, row[:-1], strict=True):
                running += count
                labels = _labels((*self.labels, "le"), (*key, bound))
                yield f"{self.name}_bucket{labels} {_num(running)}"
            yield f"{self.name}_sum{_labels(self.labels, key)} {_num(row[-1])}"
            yield f"{self.name}_count{_labels(self.labels, key)} {_num(running)}"


class Gauge:
    """A value read by a callback when the registry is rendered (pool sizes, waiters)."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, labels: Labels, read: Callable[[], Iterable[Sample]]
    ) -> None:
        self.name, self.help, self.labels, self.read = name, help_text, labels, read

    def lines(self) -> Iterable[str]:
        for key, value in self.read():
            yield f"{self.name}{_labels(self.labels, key)} {_num(value)}"


Metric = Counter | Histogram | Gauge
M = TypeVar("M", Counter, Histogram, Gauge)


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def _add(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: Labels = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Labels = (),
        buckets: tuple[float, ...] = DURATION_BUCKETS,
    ) -> Histogram:
        return self._add(Histogram(name, help_text, labels, buckets))

    def gauge(
        self,
        name: str,
        help_text: str,
        read: Callable[[], float | None] | Callable[[], Iterable[Sample]],
        labels: Labels = (),
    ) -> Gauge:
        """A gauge read at scrape time. ``read`` returns one value (no labels; ``None`` leaves
        the gauge out, e.g. a pool figure the driver does not know) or ``(labels, value)``
        pairs."""

        def samples() -> Iterable[Sample]:
            value = read()
            if value is None:
                return ()
            if isinstance(value, int | float):
                return (((), float(value)),)
            return value

        return self._add(Gauge(name, help_text, labels, samples))

    def has(self, name: str) -> bool:
        return name in self._metrics

    def render(self) -> str:
        """The whole registry in the text format; a gauge whose callback fails is left out
        (and logged by the caller's error handling), never the whole scrape."""
        out: list[str] = []
        for metric in self._metrics.values():
            try:
                lines = list(metric.lines())
            except Exception:  # a broken gauge must not hide every other figure
                continue
            out.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
            out.append(f"# TYPE {metric.name} {metric.kind}")
            out.extend(lines)
        return "\n".join(out) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpMetrics:
    """The two per-request series the middleware feeds, by method and route template."""

    def __init__(self, registry: Registry) -> None:
        self.requests = registry.counter(
            "tumar_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
        )
        self.duration = registry.histogram(
            "tumar_http_request_duration_seconds",
            "Time from receiving a request to the end of its answer, by route template.",
            ("method", "route"),
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.inc((method, route, str(status)))
        self.duration.observe((method, route), seconds)


class NodeMetrics:
    """One node's registry with its HTTP series; stored on the app (``registry_of``)."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.http = HttpMetrics(self.registry)


def registry_of(app: Any) -> NodeMetrics:
    """The metrics of a Starlette/FastAPI app, created on first use (``app.state.metrics``)."""
    found = getattr(app.state, "metrics", None)
    if isinstance(found, NodeMetrics):
        return found
    created = NodeMetrics()
    app.state.metrics = created
    return created


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: Labels, values: Labels) -> str:
    if not names:
        return ""
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + inner + "}"

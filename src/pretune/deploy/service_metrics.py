"""The counters of `pretune serve` (requests by path and status, latency and batch-size
quantiles), rendered as Prometheus text for GET /metrics."""

from __future__ import annotations

from collections import Counter, deque

import numpy as np

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    """Counters and recent latencies / batch sizes, rendered as Prometheus text."""

    def __init__(self, window: int = 10_000) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latencies: deque[float] = deque(maxlen=window)
        self.batch_texts: deque[int] = deque(maxlen=window)
        self.batches = 0
        self.texts = 0

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests[(path, status)] += 1
        if path == "/predict":
            self.latencies.append(seconds)

    def observe_batch(self, texts: int) -> None:
        self.batches += 1
        self.texts += texts
        self.batch_texts.append(texts)

    def render(self) -> str:
        lines = ["# TYPE pretune_requests_total counter"]
        for (path, status), n in sorted(self.requests.items()):
            lines.append(f'pretune_requests_total{{path="{path}",status="{status}"}} {n}')
        lines.append("# TYPE pretune_predict_latency_seconds summary")
        for q in (0.5, 0.9, 0.99):
            value = float(np.quantile(self.latencies, q)) if self.latencies else float("nan")
            lines.append(f'pretune_predict_latency_seconds{{quantile="{q}"}} {value:.6f}')
        lines.append(f"pretune_predict_latency_seconds_count {len(self.latencies)}")
        lines.append("# TYPE pretune_batch_texts summary")
        for q in (0.5, 0.99):
            value = float(np.quantile(self.batch_texts, q)) if self.batch_texts else float("nan")
            lines.append(f'pretune_batch_texts{{quantile="{q}"}} {value:g}')
        lines.append(f"pretune_batch_texts_count {self.batches}")
        lines.append(f"pretune_batch_texts_sum {self.texts}")
        return "\n".join(lines) + "\n"

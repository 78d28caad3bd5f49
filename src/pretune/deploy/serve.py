"""`pretune serve`: an HTTP prediction service (FastAPI) for a fine-tuned classifier.

    POST /predict   {"texts": [...]} -> one label and class probabilities per text
    GET  /health    model loaded, labels
    GET  /metrics   Prometheus text: requests by path and status, latency quantiles, batch sizes
    GET  /openapi.json, /docs

Concurrent requests are batched: a worker takes the first waiting request, gathers more for up
to `max_wait_ms` or until `max_batch` texts, runs one forward pass in a thread (the event loop
stays free to accept requests) and resolves every request's future with its own rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from pretune.deploy.options import require
from pretune.runs import Predictor

__all__ = ["Batcher", "Limits", "ServiceMetrics", "create_app", "load_predictor", "serve"]


@dataclass(frozen=True)
class Limits:
    """Input limits and batching of the service."""

    max_batch: int = 32  # texts per forward pass
    max_texts: int = 64  # texts per request (more: 413)
    max_chars: int = 10_000  # characters per text (more: 413)
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company


class PredictRequest(BaseModel):
    texts: list[str] = Field(..., min_length=1, description="Texts to classify.")


class Prediction(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class ErrorResponse(BaseModel):
    error: str


Predict = Callable[[list[str]], np.ndarray]  # texts -> probabilities (N, K)


def load_predictor(run: Path, max_batch: int = 32) -> tuple[Predict, list[str]]:
    """(texts -> probabilities, label names) for a run or model folder (int8 ones included)."""
    predictor = Predictor.load(run)

    def predict(texts: list[str]) -> np.ndarray:
        # Lone surrogates are valid JSON but not UTF-8: the tokenizer would fail on them.
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        return predictor.probabilities(clean, max_batch)

    return predict, predictor.label_names


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


class Batcher:
    """Gathers concurrent requests into forward passes of up to `max_batch` texts."""

    def __init__(self, predict: Predict, limits: Limits, metrics: ServiceMetrics) -> None:
        self.predict, self.limits, self.metrics = predict, limits, metrics
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()

    async def submit(self, texts: list[str]) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def _gather(self) -> list[tuple[list[str], asyncio.Future]]:
        group = [await self.queue.get()]
        count = len(group[0][0])
        deadline = time.perf_counter() + self.limits.max_wait_ms / 1000
        while count < self.limits.max_batch:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                break
            group.append(item)
            count += len(item[0])
        return group

    async def run(self) -> None:
        while True:
            group = await self._gather()
            texts = [t for request, _ in group for t in request]
            try:
                probs = await asyncio.to_thread(self.predict, texts)
            except Exception as exc:  # every waiting request gets the error, the worker lives
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.metrics.observe_batch(len(texts))
            start = 0
            for request, future in group:
                if not future.done():  # the client may have gone away
                    future.set_result(probs[start : start + len(request)])
                start += len(request)


def _limit_error(texts: Sequence[str], limits: Limits) -> str | None:
    if len(texts) > limits.max_texts:
        return f"{len(texts)} texts in one request; the limit is max_texts={limits.max_texts}"
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            return (
                f"texts[{i}] has {len(text)} characters; the limit is max_chars={limits.max_chars}"
            )
    return None


def _predictions(probs: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    best = probs.argmax(axis=1)
    return {
        "predictions": [
            {
                "label": label_names[k],
                "probability": float(row[k]),
                "probabilities": dict(zip(label_names, map(float, row), strict=True)),
            }
            for k, row in zip(best, probs, strict=True)
        ]
    }


def _add_error_handling(app: Any, metrics: ServiceMetrics) -> None:
    """Count every request by path and status; explain invalid bodies with one `error` line."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    known_paths = {"/predict", "/health", "/metrics", "/openapi.json", "/docs"}

    @app.middleware("http")
    async def count(request: Request, call_next: Callable) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        # Unknown paths share one label, so scanners cannot grow the metrics without bound.
        path = request.url.path if request.url.path in known_paths else "other"
        metrics.observe_request(path, response.status_code, time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else "body"
        message = errors[0]["msg"] if errors else "invalid request"
        body = {"error": f'{where}: {message}; send JSON like {{"texts": ["some text"]}}'}
        body["detail"] = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors[:10]]
        return JSONResponse(status_code=422, content=body)


def _add_routes(
    app: Any, batcher: Batcher, metrics: ServiceMetrics, label_names: list[str], limits: Limits
) -> None:
    from fastapi.responses import JSONResponse, PlainTextResponse

    responses = {413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}

    @app.post("/predict", response_model=PredictResponse, responses=responses)
    async def predict_texts(request: PredictRequest) -> Any:
        problem = _limit_error(request.texts, limits)
        if problem:
            return JSONResponse(status_code=413, content={"error": problem})
        return _predictions(await batcher.submit(request.texts), label_names)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "labels": label_names, "queued": batcher.queue.qsize()}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_text() -> str:
        return metrics.render()


def create_app(predict: Predict, label_names: list[str], limits: Limits = Limits()) -> Any:
    """The FastAPI application around a `predict` function (see `load_predictor`)."""
    from fastapi import FastAPI

    metrics = ServiceMetrics()
    batcher = Batcher(predict, limits, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()

    app = FastAPI(
        title="pretune classifier",
        version="1",
        description=f"Labels: {', '.join(label_names)}. Limits: max_texts={limits.max_texts} "
        f"per request, max_chars={limits.max_chars} per text (413 beyond).",
        lifespan=lifespan,
    )
    _add_error_handling(app, metrics)
    _add_routes(app, batcher, metrics, label_names, limits)
    return app


def serve(run: Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits()) -> None:
    """Load `run` and serve it with uvicorn until interrupted."""
    for module in ("fastapi", "uvicorn"):
        require(module, "pretune serve")
    import uvicorn

    predict, labels = load_predictor(run, limits.max_batch)
    uvicorn.run(create_app(predict, labels, limits), host=host, port=port, log_level="warning")

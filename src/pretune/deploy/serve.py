"""`pretune serve`: an HTTP prediction service (FastAPI + uvicorn) for a fine-tuned classifier.

    POST /predict   {"texts": [...]} -> one label and class probabilities per text
    GET  /health    alive: model loaded, ready or not, labels, texts queued
    GET  /ready     200 while it takes requests; 503 while its queue is full or it shuts down
    GET  /metrics   Prometheus text: requests by path and status, latency quantiles, batch sizes
    GET  /openapi.json, /docs

Concurrent requests are batched: a worker takes the first waiting request, gathers more for up
to `max_wait_ms` or until `max_batch` texts, runs one forward pass in a thread (the event loop
stays free to accept requests) and resolves every request's future with its own rows.

Under pressure it refuses work instead of falling over, always with a JSON `{"error": ...}`: a
body over `max_body_bytes` is 413 while it is read; over `max_texts` texts or a text over
`max_chars` is 413; a malformed body is 422; a request that would put more than `max_queue`
texts in the queue is 503 with `Retry-After`. With uvicorn's `max_connections` that bounds the
memory. SIGTERM stops accepting connections and lets the requests in flight finish (up to
`shutdown_timeout_s`) before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from pretune.deploy.options import require
from pretune.deploy.service_metrics import ServiceMetrics
from pretune.errors import ConfigError
from pretune.runs import Predictor

__all__ = [
    "Batcher",
    "Limits",
    "ServiceMetrics",
    "create_app",
    "load_predictor",
    "run_server",
    "serve",
]

RETRY_AFTER_S = 1  # what a 503 tells clients to wait: a few forward passes


@dataclass(frozen=True)
class Limits:
    """Input limits, batching and back-pressure of the service."""

    max_batch: int = 32  # texts per forward pass
    max_texts: int = 64  # texts per request (more: 413)
    max_chars: int = 10_000  # characters per text (more: 413)
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    max_queue: int = 512  # texts waiting or being predicted (a request beyond: 503)
    max_body_bytes: int = 4_000_000  # max_texts x max_chars fit, even \u-escaped (more: 413)
    max_connections: int = 64  # open connections (more: uvicorn's 503)
    shutdown_timeout_s: int = 30  # after SIGTERM, how long requests in flight may take

    def __post_init__(self) -> None:
        counts = ("max_batch", "max_texts", "max_chars", "max_queue", "max_body_bytes",
                  "max_connections")  # fmt: skip
        low = [f"{name}={getattr(self, name)}" for name in counts if getattr(self, name) < 1]
        if low or self.max_wait_ms < 0 or self.shutdown_timeout_s < 0:
            raise ConfigError(
                f"{', '.join(low) or 'max_wait_ms / shutdown_timeout_s'}: the max_* limits must "
                "be >= 1, max_wait_ms and shutdown_timeout_s >= 0"
            )
        if self.max_queue < self.max_texts:
            raise ConfigError(
                f"max_queue={self.max_queue} is below max_texts={self.max_texts}: a full "
                "request could never be queued; raise max_queue"
            )


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


class Batcher:
    """Gathers concurrent requests into forward passes of up to `max_batch` texts."""

    def __init__(self, predict: Predict, limits: Limits, metrics: ServiceMetrics) -> None:
        self.predict, self.limits, self.metrics = predict, limits, metrics
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self.pending = 0  # texts submitted and not yet answered (queued or being predicted)

    def has_room(self, texts: int) -> bool:
        """Whether `texts` more fit under max_queue (checked and counted without an await in
        between, so concurrent requests cannot overshoot it)."""
        return self.pending + texts <= self.limits.max_queue

    async def submit(self, texts: list[str]) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        self.pending += len(texts)
        try:
            self.queue.put_nowait((texts, future))
            return await future
        finally:
            self.pending -= len(texts)

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


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` (by its Content-Length, or counted as a chunked
    body arrives) is refused with 413 while it is read, so no request can fill the memory."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from fastapi import HTTPException  # the one FastAPI's body reading passes on

        declared = dict(scope["headers"]).get(b"content-length", b"")
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise HTTPException(413, self._too_large())
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # the route's body reading re-raises it as is
                raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> str:
        return f"the request body is over max_body_bytes={self.max_bytes}; send fewer texts"


def _add_error_handling(app: Any, metrics: ServiceMetrics) -> None:
    """Count every request by path and status; every refusal is a JSON `error` line."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    known_paths = {"/predict", "/health", "/ready", "/metrics", "/openapi.json", "/docs"}

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

    @app.exception_handler(HTTPException)
    async def refused(_: Request, exc: HTTPException) -> JSONResponse:
        # 404, 405, 413 from BodyLimit: the same {"error": ...} body as every other refusal
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


def _busy(reason: str) -> Any:
    from fastapi.responses import JSONResponse

    body = {"error": f"{reason}; retry after {RETRY_AFTER_S} s", "ready": False}
    return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_S)})


def _add_routes(
    app: Any, batcher: Batcher, metrics: ServiceMetrics, label_names: list[str], limits: Limits
) -> None:
    from fastapi.responses import JSONResponse, PlainTextResponse

    refusals = {code: {"model": ErrorResponse} for code in (413, 422, 503)}

    def not_ready() -> str | None:
        if app.state.draining:
            return "the service is shutting down"
        if not batcher.has_room(limits.max_texts):
            return f"the queue is full ({batcher.pending} texts; max_queue={limits.max_queue})"
        return None

    @app.post("/predict", response_model=PredictResponse, responses=refusals)
    async def predict_texts(request: PredictRequest) -> Any:
        problem = _limit_error(request.texts, limits)
        if problem:
            return JSONResponse(status_code=413, content={"error": problem})
        if not batcher.has_room(len(request.texts)):
            return _busy(f"the queue is full ({batcher.pending} texts queued, "
                         f"max_queue={limits.max_queue})")  # fmt: skip
        return _predictions(await batcher.submit(request.texts), label_names)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Alive; the model is loaded before the port opens, so an answer means it is."""
        return {"status": "ok", "model_loaded": True, "ready": not_ready() is None,
                "labels": label_names, "queued_texts": batcher.pending,
                "limits": asdict(limits)}  # fmt: skip

    @app.get("/ready", responses={503: {"model": ErrorResponse}})
    async def ready() -> Any:
        reason = not_ready()
        return {"ready": True} if reason is None else _busy(reason)

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
        f"per request, max_chars={limits.max_chars} per text, max_body_bytes="
        f"{limits.max_body_bytes} (413 beyond); max_queue={limits.max_queue} texts queued "
        "(503 with Retry-After beyond).",
        lifespan=lifespan,
    )
    app.state.draining, app.state.batcher = False, batcher
    # Added first, so it sits inside the counting middleware: its 413 then reaches FastAPI's
    # handlers as raised (the counting middleware's task group would wrap it in a group).
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    _add_error_handling(app, metrics)
    _add_routes(app, batcher, metrics, label_names, limits)
    return app


def run_server(app: Any, host: str, port: int, limits: Limits = Limits()) -> None:
    """Serve `app` with uvicorn until SIGTERM or Ctrl-C; then stop accepting connections, let
    the requests in flight finish (up to `limits.shutdown_timeout_s`) and return."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning",
        limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=limits.shutdown_timeout_s,
    )  # fmt: skip
    server = uvicorn.Server(config)
    uvicorn_exit = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        if not app.state.draining:
            app.state.draining = True
            pending = app.state.batcher.pending
            print(f"shutting down: finishing the requests in flight ({pending} texts, up to "
                  f"{limits.shutdown_timeout_s} s)", file=sys.stderr, flush=True)  # fmt: skip
        uvicorn_exit(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    server.run()


def serve(run: Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits()) -> None:
    """Load `run` (a damaged file is named before the port opens) and serve it until SIGTERM."""
    for module in ("fastapi", "uvicorn"):
        require(module, "pretune serve")
    predict, labels = load_predictor(run, limits.max_batch)
    run_server(create_app(predict, labels, limits), host, port, limits)

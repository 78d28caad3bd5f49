"""`pretune serve RUN [host=127.0.0.1] [port=8000] [max_batch=32] [max_texts=64]
[max_chars=10000] [max_wait_ms=5] [max_queue=512] [max_body_bytes=4000000]
[max_connections=64] [shutdown_timeout_s=30]`."""

from __future__ import annotations

import argparse

from pretune.cli.common import add_run_command

__all__ = ["register"]

OPTIONS = {
    "host": str, "port": int, "max_batch": int, "max_texts": int, "max_chars": int,
    "max_wait_ms": float, "max_queue": int, "max_body_bytes": int, "max_connections": int,
    "shutdown_timeout_s": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    add_run_command(
        sub,
        "serve",
        OPTIONS,
        run,
        summary="serve a run's classifier over HTTP (/predict, /health, /ready, /metrics)",
        description="An HTTP service (FastAPI + uvicorn) with dynamic batching: POST /predict "
        '{"texts": [...]}, GET /health, GET /ready, GET /metrics (Prometheus), GET '
        "/openapi.json. A full queue answers 503 with Retry-After; SIGTERM finishes the "
        "requests in flight. Accepts run folders and `pretune quantize` / `export` folders.",
        run_help="a finished run folder (or int8 / ONNX model folder)",
    )


def run(args: argparse.Namespace) -> int:
    from pretune.cli.common import log_line
    from pretune.deploy.options import parse_options
    from pretune.deploy.serve import Limits, serve

    options = parse_options(args.options, OPTIONS)
    host, port = options.pop("host", "127.0.0.1"), options.pop("port", 8000)
    limits = Limits(**options)  # checked before the model loads
    log_line(f"serving {args.run} on http://{host}:{port} (docs: /docs, schema: /openapi.json)")
    serve(args.run, host, port, limits)
    return 0

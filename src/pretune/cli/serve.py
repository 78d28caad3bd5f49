"""`pretune serve RUN [host=127.0.0.1] [port=8000] [max_batch=32] [max_texts=64]
[max_chars=10000] [max_wait_ms=5]`."""

from __future__ import annotations

import argparse

from pretune.cli.common import add_run_command

__all__ = ["register"]

OPTIONS = {
    "host": str, "port": int, "max_batch": int, "max_texts": int, "max_chars": int,
    "max_wait_ms": float,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    add_run_command(
        sub,
        "serve",
        OPTIONS,
        run,
        summary="serve a run's classifier over HTTP (/predict, /health, /metrics)",
        description="An HTTP service (FastAPI + uvicorn) with dynamic batching: POST /predict "
        '{"texts": [...]}, GET /health, GET /metrics (Prometheus), GET /openapi.json. '
        "Accepts run folders and `pretune quantize` folders.",
        run_help="a finished run folder (or int8 model folder)",
    )


def run(args: argparse.Namespace) -> int:
    from pretune.cli.common import log_line
    from pretune.deploy.options import parse_options
    from pretune.deploy.serve import Limits, serve
    from pretune.errors import ConfigError

    options = parse_options(args.options, OPTIONS)
    host, port = options.pop("host", "127.0.0.1"), options.pop("port", 8000)
    limits = Limits(**options)
    if min(limits.max_batch, limits.max_texts, limits.max_chars) < 1 or limits.max_wait_ms < 0:
        raise ConfigError("max_batch, max_texts and max_chars must be >= 1, max_wait_ms >= 0")
    log_line(f"serving {args.run} on http://{host}:{port} (docs: /docs, schema: /openapi.json)")
    serve(args.run, host, port, limits)
    return 0

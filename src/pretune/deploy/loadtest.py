"""A bounded load test of a running service: N requests, C at a time, a wall-clock limit.

    python -m pretune.deploy.loadtest http://127.0.0.1:8000 [requests] [concurrency] [timeout_s]

Prints throughput (requests/s, texts/s), p50/p99 latency of the answered (200) requests, and the
count of each status; 503 (a full queue) and connection failures are counted, not fatal, so the
same tool shows how the service sheds load beyond its limits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import numpy as np

__all__ = ["load_test"]

TEXTS = [
    "The central bank raised interest rates as inflation and market prices kept rising.",
    "The striker scored twice and the team won the cup final after extra time.",
    "A new phone chip promises faster software and longer battery life for apps.",
    "The minister told parliament the election would be held in the spring.",
    "The film won three awards and the band's album topped the charts.",
]


def _texts(i: int) -> list[str]:
    return [TEXTS[(i + k) % len(TEXTS)] for k in range(1 + i % 4)]  # 1-4 texts


async def _run(url: str, requests: int, concurrency: int, timeout: float) -> dict[str, Any]:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []  # of answered (200) requests
    statuses: dict[str, int] = {}
    answered_texts = 0

    async def one(client: httpx.AsyncClient, i: int) -> None:
        nonlocal answered_texts
        async with gate:
            start = time.perf_counter()
            try:
                response = await client.post(f"{url}/predict", json={"texts": _texts(i)})
                status = str(response.status_code)
            except httpx.TransportError:  # refused or dropped: counted, the test goes on
                status = "failed"
            if status == "200":
                latencies.append(time.perf_counter() - start)
                answered_texts += len(_texts(i))
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        jobs = [one(client, i) for i in range(requests)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout)
    seconds = time.perf_counter() - start

    def ms(q: float) -> float | None:
        return round(float(np.quantile(latencies, q)) * 1000, 1) if latencies else None

    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 2),
        "texts_per_s": round(answered_texts / seconds, 2),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "statuses": dict(sorted(statuses.items())),
    }


def load_test(
    url: str, requests: int = 200, concurrency: int = 8, timeout: float = 60.0
) -> dict[str, Any]:
    """Send `requests` POST /predict (1-4 texts each), `concurrency` at a time, within `timeout`.

    Returns answered requests/s and texts/s, p50/p99 latency in ms of the answered requests,
    and the count of each status (`"failed"`: no HTTP answer).
    """
    return asyncio.run(_run(url.rstrip("/"), requests, concurrency, timeout))


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    n = int(args[1]) if len(args) > 1 else 200
    c = int(args[2]) if len(args) > 2 else 8
    limit = float(args[3]) if len(args) > 3 else 60.0
    print(json.dumps(load_test(args[0], n, c, limit), indent=2))

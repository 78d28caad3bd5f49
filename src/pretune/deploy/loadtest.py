"""A bounded load test of a running service: N requests, C at a time, a wall-clock limit.

python -m pretune.deploy.loadtest http://127.0.0.1:8000 [requests] [concurrency]
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


async def _run(url: str, requests: int, concurrency: int, timeout: float) -> dict[str, Any]:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(client: httpx.AsyncClient, i: int) -> None:
        texts = [TEXTS[(i + k) % len(TEXTS)] for k in range(1 + i % 4)]  # 1-4 texts
        async with gate:
            start = time.perf_counter()
            response = await client.post(f"{url}/predict", json={"texts": texts})
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout) as client:
        jobs = [one(client, i) for i in range(requests)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout)
    seconds = time.perf_counter() - start
    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / seconds, 2),
        "texts_per_s": round(sum(1 + i % 4 for i in range(requests)) / seconds, 2),
        "p50_ms": round(float(np.quantile(latencies, 0.5)) * 1000, 1),
        "p99_ms": round(float(np.quantile(latencies, 0.99)) * 1000, 1),
        "statuses": statuses,
    }


def load_test(
    url: str, requests: int = 200, concurrency: int = 8, timeout: float = 60.0
) -> dict[str, Any]:
    """Send `requests` POST /predict (1-4 texts each), `concurrency` at a time, within `timeout`.

    Returns throughput (requests/s, texts/s), p50/p99 latency in ms and the status counts.
    """
    return asyncio.run(_run(url.rstrip("/"), requests, concurrency, timeout))


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[1]) if len(args) > 1 else 200
    c = int(args[2]) if len(args) > 2 else 8
    limit = float(args[3]) if len(args) > 3 else 60.0
    print(json.dumps(load_test(args[0], n, c, limit), indent=2))

"""`pretune serve` as a real process on 127.0.0.1: a bounded load test and a schemathesis fuzz
run of its OpenAPI schema (no 5xx allowed)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_run):
    port = _free_port()
    command = [sys.executable, "-m", "pretune", "serve", str(tiny_run), "host=127.0.0.1",
               f"port={port}", "max_texts=8", "max_chars=2000"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /health within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
def test_load_on_loopback(server):
    from pretune.deploy.loadtest import load_test

    report = load_test(server, requests=200, concurrency=8, timeout=60)
    print(report)  # throughput and latency of the tiny model, for the record
    assert report["statuses"] == {"200": 200}
    assert report["requests_per_s"] > 0 and report["p99_ms"] >= report["p50_ms"] > 0
    metrics = httpx.get(f"{server}/metrics").text
    assert 'pretune_requests_total{path="/predict",status="200"} 200' in metrics
    counts = [ln for ln in metrics.splitlines() if ln.startswith("pretune_batch_texts_count")]
    batches = int(counts[0].split()[-1])
    assert batches < 200  # concurrent requests were batched together


@pytest.mark.slow
def test_schema_fuzz_finds_no_server_errors(server):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    operation = schemathesis.openapi.from_url(f"{server}/openapi.json")["/predict"]["POST"]
    seen = []

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        response = case.call(timeout=30)
        seen.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert seen and all(code < 500 for code in seen)

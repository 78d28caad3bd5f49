"""The service under pressure: body size limit, a bounded queue (503 + Retry-After), readiness,
graceful shutdown on SIGTERM (a real process), and a schema fuzz run finding no 5xx."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pretune.deploy.serve import Limits, create_app, load_predictor
from pretune.errors import ConfigError

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

LABELS = ["money", "sport", "tech"]


class GatedModel:
    """Answers only once `gate` is set, so a test can hold requests in flight."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.entered.set()
        assert self.gate.wait(30), "the test never released the model"
        return np.full((len(texts), 3), 1 / 3, dtype=np.float32)


def uniform(texts: list[str]) -> np.ndarray:
    return np.full((len(texts), 3), 1 / 3, dtype=np.float32)


def wait_until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_max_body_bytes_is_413_with_a_json_error(chunked):
    model_calls = []
    app = create_app(lambda t: model_calls.append(t) or uniform(t), LABELS,
                     Limits(max_body_bytes=100))  # fmt: skip
    body = json.dumps({"texts": ["x" * 200]}).encode()
    content = iter([body[:50], body[50:]]) if chunked else body  # chunked: no Content-Length
    with TestClient(app) as client:
        response = client.post(
            "/predict", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "max_body_bytes=100" in response.json()["error"]
        assert model_calls == []
        assert client.post("/predict", json={"texts": ["short"]}).status_code == 200


def test_a_full_queue_answers_503_with_retry_after_and_recovers():
    model = GatedModel()
    app = create_app(model, LABELS, Limits(max_texts=4, max_queue=4, max_wait_ms=0))
    with TestClient(app) as client:
        first: list = []
        holder = threading.Thread(
            target=lambda: first.append(client.post("/predict", json={"texts": ["a"] * 3}))
        )
        holder.start()
        wait_until(model.entered.is_set, "the first request to reach the model")
        assert client.get("/health").json()["queued_texts"] == 3
        busy = client.post("/predict", json={"texts": ["b", "c"]})  # 3 + 2 > max_queue=4
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert "max_queue=4" in busy.json()["error"]
        assert client.get("/ready").status_code == 503  # a full request would not fit
        assert client.get("/health").json()["ready"] is False
        model.gate.set()
        holder.join(30)
        assert first[0].status_code == 200 and len(first[0].json()["predictions"]) == 3
        assert client.get("/ready").json() == {"ready": True}
        assert client.post("/predict", json={"texts": ["b", "c"]}).status_code == 200
        metrics = client.get("/metrics").text
    assert 'pretune_requests_total{path="/predict",status="503"} 1' in metrics


def test_health_says_the_model_is_loaded_with_its_limits():
    limits = Limits(max_texts=8, max_queue=16)
    with TestClient(create_app(uniform, LABELS, limits)) as client:
        health = client.get("/health").json()
    assert health["model_loaded"] is True and health["ready"] is True
    assert health["labels"] == LABELS and health["queued_texts"] == 0
    assert health["limits"]["max_queue"] == 16 and health["limits"]["max_texts"] == 8


@pytest.mark.parametrize(
    ("options", "words"),
    [({"max_queue": 8, "max_texts": 16}, "max_queue=8 is below max_texts=16"),
     ({"max_body_bytes": 0}, "max_body_bytes=0"),
     ({"shutdown_timeout_s": -1}, "shutdown_timeout_s")],
)  # fmt: skip
def test_inconsistent_limits_are_refused(options, words):
    with pytest.raises(ConfigError, match=words):
        Limits(**options)


SLOW_SERVER = """
import sys, time
from pathlib import Path
import numpy as np
from pretune.deploy.serve import Limits, create_app, run_server

release = Path(sys.argv[2])

def held(texts):  # answers once the test creates the release file
    while not release.exists():
        time.sleep(0.02)
    return np.full((len(texts), 2), 0.5, dtype=np.float32)

run_server(create_app(held, ["a", "b"]), "127.0.0.1", int(sys.argv[1]), Limits())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_finishes_the_request_in_flight(tmp_path):
    port, release = _free_port(), tmp_path / "release"
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(port), str(release)],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_until(lambda: _answers(url), "the server to start")
        replies: list = []
        body = {"texts": ["x"]}
        request = threading.Thread(
            target=lambda: replies.append(httpx.post(f"{url}/predict", json=body, timeout=60))
        )
        request.start()
        wait_until(lambda: httpx.get(f"{url}/health").json()["queued_texts"] == 1, "in flight")
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: not _answers(url), "the server to stop accepting connections")
        release.touch()  # only now may the request in flight finish
        request.join(60)
        assert replies and replies[0].status_code == 200
        assert replies[0].json()["predictions"][0]["probability"] == pytest.approx(0.5)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    # uvicorn re-raises the signal once it has shut down: terminated by SIGTERM, no traceback
    assert process.returncode in (0, -signal.SIGTERM)
    err = process.stderr.read()
    assert "shutting down: finishing the requests in flight" in err and "Traceback" not in err


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_schema_fuzz_of_the_real_model_finds_no_server_error(tiny_run: Path):
    """Every operation of the OpenAPI schema, in-process, with generated (valid and invalid)
    requests: 2xx, 4xx or 503 only; the run is the tiny finished one."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.python.asgi import shutdown_lifespans

    predict, labels = load_predictor(tiny_run)
    app = create_app(predict, labels, Limits(max_texts=8, max_chars=200, max_body_bytes=4000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: list[int] = []
    try:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=60, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=schema.as_strategy(mode))
            def call(case):
                response = case.call()
                statuses.append(response.status_code)
                assert response.status_code < 500, (case.method, case.path, case.body)

            call()
    finally:
        shutdown_lifespans()
    assert 200 in statuses and any(400 <= s < 500 for s in statuses)  # both kinds were sent

"""The HTTP service in-process (TestClient): predictions, limits, errors, metrics, batching."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from pretune.deploy.serve import Limits, create_app, load_predictor

LABELS = ["money", "sport", "tech"]


class FakeModel:
    """Probabilities from text length; records the size of every forward call."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            self.calls.append(len(texts))
        time.sleep(self.delay)
        out = np.full((len(texts), 3), 0.1, dtype=np.float32)
        out[np.arange(len(texts)), [len(t) % 3 for t in texts]] = 0.8
        return out


@pytest.fixture
def fake():
    return FakeModel()


@pytest.fixture
def client(fake):
    with TestClient(create_app(fake, LABELS, Limits(max_texts=4, max_chars=20))) as c:
        yield c


def test_predict_returns_label_and_probabilities_per_text_in_order(client):
    response = client.post("/predict", json={"texts": ["abc", "a", "ab"]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["money", "sport", "tech"]
    assert predictions[0]["probabilities"] == pytest.approx(
        {"money": 0.8, "sport": 0.1, "tech": 0.1}
    )
    assert predictions[1]["probability"] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"texts": ["a"] * 5}, 413, "max_texts=4"),
        ({"texts": ["ok", "x" * 21]}, 413, "texts[1] has 21 characters"),
        ({"texts": []}, 422, "texts"),
        ({"text": ["a"]}, 422, "texts"),
        ({"texts": "not a list"}, 422, "texts"),
        ({"texts": [1, {"a": 2}]}, 422, "texts"),
    ],
)
def test_bad_requests_get_4xx_with_a_json_message(client, fake, body, status, words):
    response = client.post("/predict", json=body)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert fake.calls == []  # rejected before reaching the model


def test_malformed_json_is_422(client):
    response = client.post(
        "/predict", content=b'{"texts": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "error" in response.json()


def test_health_metrics_and_schema(client):
    assert client.get("/health").json()["labels"] == LABELS
    client.post("/predict", json={"texts": ["a", "b"]})
    client.post("/predict", json={"texts": []})
    text = client.get("/metrics").text
    assert 'pretune_requests_total{path="/predict",status="200"} 1' in text
    assert 'pretune_requests_total{path="/predict",status="422"} 1' in text
    assert 'pretune_predict_latency_seconds{quantile="0.99"}' in text
    assert "pretune_batch_texts_sum 2" in text
    schema = client.get("/openapi.json").json()
    assert "413" in schema["paths"]["/predict"]["post"]["responses"]


def test_concurrent_requests_are_batched_up_to_max_batch():
    fake = FakeModel(delay=0.05)  # a slow forward lets requests pile up meanwhile
    app = create_app(fake, LABELS, Limits(max_batch=8, max_wait_ms=20))
    with TestClient(app) as client, ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: client.post("/predict", json={"texts": ["ab"] * 2}),
                                range(24)))  # fmt: skip
    assert all(r.status_code == 200 for r in replies)
    assert all(len(r.json()["predictions"]) == 2 for r in replies)
    assert sum(fake.calls) == 48
    assert max(fake.calls) > 2  # several requests shared one forward pass
    assert max(fake.calls) <= 8 + 2  # gathering stops once max_batch texts are in


def test_model_errors_are_500_and_the_service_keeps_working():
    calls = []

    def flaky(texts):
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return np.full((len(texts), 3), 1 / 3, dtype=np.float32)

    with TestClient(create_app(flaky, LABELS), raise_server_exceptions=False) as client:
        assert client.post("/predict", json={"texts": ["a"]}).status_code == 500
        assert client.post("/predict", json={"texts": ["a"]}).status_code == 200


def test_real_tiny_model_over_http(tiny_run):
    predict, labels = load_predictor(tiny_run)
    with TestClient(create_app(predict, labels)) as client:
        body = b'{"texts": ["match goal team", "\\ud800 bank"]}'  # a lone surrogate: valid JSON
        response = client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 2 and set(predictions[0]["probabilities"]) == set(labels)
    assert sum(predictions[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    expected = predict(["match goal team"])[0]
    assert predictions[0]["probability"] == pytest.approx(float(expected.max()), abs=1e-6)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["max_batch=0"], "max_batch"),
        (["port=eighty"], "port=eighty: not a valid int"),
        (["colour=red"], "unexpected argument 'colour=red'"),
    ],
)
def test_serve_cli_rejects_bad_options_before_loading(tmp_path, capsys, options, words):
    from pretune.cli.main import main

    assert main(["serve", str(tmp_path), *options]) == 2
    assert words in capsys.readouterr().err


def test_unknown_paths_share_one_metrics_label(client):
    for i in range(3):
        assert client.get(f"/scan-{i}").status_code == 404
    text = client.get("/metrics").text
    assert 'pretune_requests_total{path="other",status="404"} 3' in text
    assert "scan-" not in text

"""Meta-learning over frozen sentence embeddings: episodes, a small projection head, and the
episode tasks (ProtoNet, Reptile, first-order MAML) that train it through the one loop.

Why frozen embeddings plus a head: MAML over the whole encoder needs a copy of every weight per
inner step; on a CPU that is out of reach, while a 384 -> d projection over cached embeddings
trains thousands of episodes in seconds. The encoder is then *not* meta-learned, only the head.

The model holds the embedding table as a frozen buffer and the batch's `input_ids` are row
indices into it, so an episode is an ordinary batch for `fit`: the first N*K rows are the
support set (K per class, in class order), the remaining rows the query set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pretune.errors import ConfigError

__all__ = [
    "COSINE_SCALE",
    "EpisodeBatches",
    "FirstOrderTask",
    "ProjectionHead",
    "ProtoNetTask",
    "adapt_and_predict",
    "episode_labels",
    "sample_episode",
]


def sample_episode(
    labels: np.ndarray, rows: np.ndarray, classes: Sequence[int], ways: int, shots: int,
    queries: int, rng: np.random.Generator,
) -> list[int]:  # fmt: skip
    """One N-way K-shot episode: `ways` classes drawn from `classes`, then for each class
    `shots` support rows and `queries` query rows from `rows`, disjoint.

    Returns support rows (class by class) followed by query rows (class by class).
    """
    if ways > len(classes):
        raise ConfigError(f"ways={ways} exceeds the {len(classes)} meta-training classes")
    chosen = rng.choice(np.asarray(classes), size=ways, replace=False)
    support, query = [], []
    for c in chosen:
        members = rows[labels[rows] == c]
        if len(members) < shots + queries:
            raise ConfigError(
                f"class {c} has {len(members)} rows, fewer than shots+queries={shots + queries}"
            )
        picked = rng.choice(members, size=shots + queries, replace=False)
        support.extend(picked[:shots].tolist())
        query.extend(picked[shots:].tolist())
    return support + query


def episode_labels(labels: np.ndarray, episode: Sequence[int], ways: int, shots: int) -> np.ndarray:
    """Episode-local labels 0..ways-1, in the order the classes appear in the support set."""
    support_classes = [int(labels[episode[k * shots]]) for k in range(ways)]
    local = {c: k for k, c in enumerate(support_classes)}
    return np.array([local[int(labels[r])] for r in episode])


class EpisodeBatches:
    """`episodes` episodes per epoch, a pure function of (seed, epoch): each is one batch."""

    def __init__(
        self, labels: np.ndarray, rows: np.ndarray, classes: Sequence[int], ways: int,
        shots: int, queries: int, episodes: int, seed: int,
    ) -> None:  # fmt: skip
        self.labels, self.rows, self.classes = labels, rows, list(classes)
        self.ways, self.shots, self.queries = ways, shots, queries
        self.episodes, self.seed = episodes, seed

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        return [
            sample_episode(self.labels, self.rows, self.classes, self.ways, self.shots,
                           self.queries, rng)
            for _ in range(self.episodes)
        ]  # fmt: skip

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        local = episode_labels(self.labels, indices, self.ways, self.shots)
        return {
            "input_ids": torch.tensor(list(indices), dtype=torch.long),
            "labels": torch.tensor(local, dtype=torch.long),
        }


class ProjectionHead(torch.nn.Module):
    """Frozen embedding table (buffer) -> trainable linear projection (a small adapter).

    Initialised as a (scaled) identity on the first `dim` coordinates plus small noise, so
    before training it is close to the frozen embeddings and meta-training starts from the
    plain ProtoNet rather than from a random map.
    """

    def __init__(self, table: np.ndarray, dim: int, seed: int = 0) -> None:
        super().__init__()
        hidden = table.shape[1]
        if dim < 1 or dim > hidden:
            raise ConfigError(f"projection_dim={dim} must be between 1 and {hidden}")
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float32))
        g = torch.Generator().manual_seed(seed)
        weight = torch.eye(dim, hidden) + 0.01 * torch.randn(dim, hidden, generator=g)
        self.proj = torch.nn.Linear(hidden, dim)
        with torch.no_grad():
            self.proj.weight.copy_(weight)
            self.proj.bias.zero_()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.table[input_ids])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


# Cosine similarities lie in [-1, 1]; a fixed scale (inverse temperature) lets the episode's
# softmax get sharp, as cosine classifiers in few-shot learning do.
COSINE_SCALE = 10.0


def _proto_logits(support: torch.Tensor, y_support: torch.Tensor, query: torch.Tensor,
                  ways: int, distance: str = "euclidean") -> torch.Tensor:  # fmt: skip
    """Query logits over the support-class means: negative squared euclidean distance (as in
    Snell et al., 2017) or `COSINE_SCALE` times the cosine similarity."""
    protos = torch.stack([support[y_support == k].mean(0) for k in range(ways)])
    if distance == "euclidean":
        return -(torch.cdist(query, protos) ** 2)
    if distance == "cosine":
        unit = torch.nn.functional.normalize
        return COSINE_SCALE * unit(query, dim=1) @ unit(protos, dim=1).T
    raise ConfigError(f"distance={distance!r} is unknown; use cosine or euclidean")


@dataclass
class ProtoNetTask:
    """Episode loss of prototypical networks: cross-entropy of the queries over their logits
    against the support-class means in the projected space (`distance`: see `_proto_logits`)."""

    model: torch.nn.Module
    ways: int
    shots: int
    distance: str = "euclidean"

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z = self.model(batch["input_ids"])
        n = self.ways * self.shots
        y = batch["labels"]
        logits = _proto_logits(z[:n], y[:n], z[n:], self.ways, self.distance)
        return {"logits": logits, "loss": torch.nn.functional.cross_entropy(logits, y[n:])}

    def new_metrics(self) -> Any:
        from pretune.metrics.classification import StreamingClassificationMetrics

        return StreamingClassificationMetrics(self.ways)


def _inner_adapt(
    weight: torch.Tensor, bias: torch.Tensor, x_support: torch.Tensor, y_support: torch.Tensor,
    ways: int, steps: int, lr: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Plain SGD on the support set from (weight, bias) of the projection, with a fresh
    zero-initialised N-way output layer; returns the adapted (weight, bias, output layer).

    A plain function, not the loop: it is the *inner* loop of one episode on detached copies
    (first-order: no gradient flows back through these steps).
    """
    w, b = weight.detach().clone().requires_grad_(True), bias.detach().clone().requires_grad_(True)
    out = torch.zeros(ways, w.shape[0], requires_grad=True)
    for _ in range(steps):
        logits = torch.tanh(x_support @ w.T + b) @ out.T
        loss = torch.nn.functional.cross_entropy(logits * 5.0, y_support)
        gw, gb, go = torch.autograd.grad(loss, (w, b, out))
        with torch.no_grad():
            w -= lr * gw
            b -= lr * gb
            out -= lr * go * 10.0  # the new output layer starts at zero: let it move faster
    return w.detach(), b.detach(), out.detach()


@dataclass
class FirstOrderTask:
    """Reptile or first-order MAML as a loss for the loop (the outer optimizer is train.*).

    - fomaml: adapt on the support (inner SGD), then the query loss at the adapted weights
      phi; written as a function of theta through phi = theta + (phi - theta).detach(), its
      gradient w.r.t. theta is the first-order MAML meta-gradient dL_query/dphi.
    - reptile: adapt on support+query; the loss 0.5 * ||theta - phi||^2 has gradient
      theta - phi, so an SGD step with lr eps is exactly Reptile's theta += eps (phi - theta).
    """

    model: ProjectionHead
    ways: int
    shots: int
    method: str = "fomaml"
    inner_steps: int = 5
    inner_lr: float = 0.5

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.model.table[batch["input_ids"]]
        y = batch["labels"]
        n = self.ways * self.shots
        weight, bias = self.model.proj.weight, self.model.proj.bias
        if self.method == "reptile":
            w, b, _ = _inner_adapt(weight, bias, x, y, self.ways, self.inner_steps, self.inner_lr)
            loss = 0.5 * ((weight - w) ** 2).sum() + 0.5 * ((bias - b) ** 2).sum()
            return {"loss": loss, "logits": torch.zeros(len(y) - n, self.ways)}
        w, b, out = _inner_adapt(weight, bias, x[:n], y[:n], self.ways, self.inner_steps,
                                 self.inner_lr)  # fmt: skip
        w_phi = weight + (w - weight).detach()
        b_phi = bias + (b - bias).detach()
        logits = torch.tanh(x[n:] @ w_phi.T + b_phi) @ out.T * 5.0
        return {"logits": logits, "loss": torch.nn.functional.cross_entropy(logits, y[n:])}

    def new_metrics(self) -> Any:
        from pretune.metrics.classification import StreamingClassificationMetrics

        return StreamingClassificationMetrics(self.ways)


def adapt_and_predict(
    model: ProjectionHead, method: str, x_support: np.ndarray, y_support: np.ndarray,
    x_query: np.ndarray, ways: int, inner_steps: int, inner_lr: float,
    distance: str = "euclidean",
) -> np.ndarray:  # fmt: skip
    """Fast adaptation to new classes: nearest prototype in the projected space by `distance`
    (protonet), or inner SGD on the support set then predict (reptile / fomaml)."""
    xs = torch.as_tensor(x_support, dtype=torch.float32)
    xq = torch.as_tensor(x_query, dtype=torch.float32)
    ys = torch.as_tensor(y_support, dtype=torch.long)
    if method == "protonet":
        with torch.no_grad():
            logits = _proto_logits(model.embed(xs), ys, model.embed(xq), ways, distance)
        return logits.argmax(1).numpy()
    w, b, out = _inner_adapt(model.proj.weight, model.proj.bias, xs, ys, ways, inner_steps,
                             inner_lr)  # fmt: skip
    with torch.no_grad():
        return (torch.tanh(xq @ w.T + b) @ out.T).argmax(1).numpy()

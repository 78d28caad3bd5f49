"""Classification losses, found by name: `train.loss=focal train.loss_params.gamma=2`.

Each loss is a pure function `(logits (B, K), labels (B,), **params) -> scalar`. Those that
accept `weight` (a (K,) tensor of class weights) work with `train.class_weights=balanced`; a
weighted mean divides by the summed weights of the batch, as `F.cross_entropy` does.

The noise-robust losses (symmetric CE, generalised CE, bootstrapping) bound or soften the
penalty of a confidently "wrong" example, so that mislabelled rows pull the model less.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from pretune.errors import ConfigError
from pretune.registry import Registry

__all__ = [
    "LOSSES",
    "bootstrap",
    "build_loss",
    "check_loss_params",
    "class_weighted",
    "cross_entropy",
    "focal",
    "generalized_ce",
    "hinge",
    "label_smoothing",
    "loss_accepts_weight",
    "mse",
    "symmetric_ce",
]

LOSSES: Registry[torch.Tensor] = Registry("loss")


def _weighted_mean(
    per_example: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None
) -> torch.Tensor:
    # Same reduction as F.cross_entropy(weight=...): sum(w_y * l) / sum(w_y).
    if weight is None:
        return per_example.mean()
    w = weight.to(per_example)[labels]
    return (w * per_example).sum() / w.sum()


def class_weighted(
    per_example_loss: Callable[..., torch.Tensor],
) -> Callable[..., torch.Tensor]:
    """A loss from a function of per-example values `(logits, labels, **params) -> (B,)`: it
    takes class weights (`weight`, last) and reduces by their weighted mean."""

    @functools.wraps(per_example_loss)
    def loss(
        logits: torch.Tensor, labels: torch.Tensor, *args: Any, weight: Any = None, **params: Any
    ) -> torch.Tensor:
        return _weighted_mean(per_example_loss(logits, labels, *args, **params), labels, weight)

    # The config checks read a loss's parameters, `weight` included, from its signature.
    signature = inspect.signature(per_example_loss)
    weight = inspect.Parameter(
        "weight", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation="torch.Tensor | None",
    )  # fmt: skip
    loss.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), weight]
    )
    return loss


def _at_label(per_class: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each row's entry at its true class: (B, K), (B,) -> (B,)."""
    return per_class.gather(1, labels[:, None]).squeeze(1)


@LOSSES.register("cross_entropy", "cross-entropy (the default); class weights supported")
def cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean negative log-likelihood of the true class."""
    return F.cross_entropy(logits, labels, weight=weight)


@LOSSES.register("label_smoothing", "cross-entropy against targets smoothed towards uniform")
def label_smoothing(
    logits: torch.Tensor,
    labels: torch.Tensor,
    smoothing: float = 0.1,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """CE with the target (1 - smoothing) on the true class plus smoothing / K everywhere.

    Args:
        smoothing: mass spread uniformly over all classes, in [0, 1).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(f"train.loss_params.smoothing must be in [0, 1), got {smoothing}")
    return F.cross_entropy(logits, labels, weight=weight, label_smoothing=smoothing)


@LOSSES.register("focal", "focal loss: down-weights easy examples (gamma)")
@class_weighted
def focal(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """-(1 - p_y)^gamma * log p_y (Lin et al. 2017); gamma=0 is cross-entropy.

    Args:
        gamma: focusing strength (>= 0); larger ignores well-classified examples more.
    """
    if gamma < 0:
        raise ConfigError(f"train.loss_params.gamma must be >= 0, got {gamma}")
    log_p = _at_label(F.log_softmax(logits, dim=-1), labels)  # (B,)
    return -((1.0 - log_p.exp()) ** gamma) * log_p


@LOSSES.register("mse", "squared error of probabilities vs one-hot (or of a regression output)")
def mse(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Brier-style MSE between softmax probabilities and one-hot labels.

    With float labels and one output per example (logits (B,) or (B, 1)) it is plain
    regression MSE instead.
    """
    if labels.is_floating_point():
        return F.mse_loss(logits.reshape(labels.shape), labels.to(logits))
    target = F.one_hot(labels, logits.shape[-1]).to(logits)
    # Summed over classes, averaged over examples: the Brier score.
    return ((logits.softmax(dim=-1) - target) ** 2).sum(dim=-1).mean()


@LOSSES.register("hinge", "multi-class hinge (margin) loss, as in a multi-class SVM")
@class_weighted
def hinge(logits: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """mean_j!=y max(0, margin - s_y + s_j) (Weston-Watkins, `F.multi_margin_loss`).

    Args:
        margin: the score gap wanted between the true class and every other.
    """
    return F.multi_margin_loss(logits, labels, margin=margin, reduction="none")


@LOSSES.register("symmetric_ce", "noise-robust: alpha * CE + beta * reverse CE (Wang et al.)")
@class_weighted
def symmetric_ce(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.1, beta: float = 1.0
) -> torch.Tensor:
    """Symmetric cross-entropy (Wang et al. 2019): alpha * CE + beta * RCE.

    The reverse CE, -sum_k p_k log q_k with the one-hot q clipped at 1e-4, equals
    -log(1e-4) * (1 - p_y): bounded, so a mislabelled row costs at most a constant.

    Args:
        alpha: weight of the ordinary CE (fits the clean majority fast).
        beta: weight of the reverse CE (the robust part).
    """
    per_ce = F.cross_entropy(logits, labels, reduction="none")
    p_y = _at_label(logits.softmax(dim=-1), labels)
    per_rce = -math.log(1e-4) * (1.0 - p_y)
    return alpha * per_ce + beta * per_rce


@LOSSES.register("generalized_ce", "noise-robust: (1 - p_y^q) / q, between CE and MAE (q)")
@class_weighted
def generalized_ce(logits: torch.Tensor, labels: torch.Tensor, q: float = 0.7) -> torch.Tensor:
    """Generalised cross-entropy (Zhang & Sabuncu 2018): q -> 0 is CE, q = 1 is MAE.

    Args:
        q: in (0, 1]; larger is more robust to label noise but slower to fit.
    """
    if not 0.0 < q <= 1.0:
        raise ConfigError(f"train.loss_params.q must be in (0, 1], got {q}")
    p_y = _at_label(logits.softmax(dim=-1), labels)
    return (1.0 - p_y.clamp_min(1e-12) ** q) / q


@LOSSES.register("bootstrap", "noise-robust: target mixes the label and the model's own guess")
@class_weighted
def bootstrap(
    logits: torch.Tensor, labels: torch.Tensor, beta: float = 0.95, mode: str = "soft"
) -> torch.Tensor:
    """Bootstrapping (Reed et al. 2015): CE against beta * label + (1 - beta) * prediction.

    Args:
        beta: trust in the given label (1: plain CE).
        mode: "soft" mixes in the predicted probabilities, "hard" the predicted class.
    """
    if mode not in ("soft", "hard"):
        raise ConfigError(f"train.loss_params.mode must be 'soft' or 'hard', got {mode!r}")
    log_p = F.log_softmax(logits, dim=-1)  # (B, K)
    target = F.one_hot(labels, logits.shape[-1]).to(log_p)
    if mode == "soft":
        guess = log_p.exp()  # not detached: as in the paper, it also rewards confidence
    else:
        guess = F.one_hot(log_p.argmax(dim=-1), logits.shape[-1]).to(log_p)
    return -((beta * target + (1.0 - beta) * guess) * log_p).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# Config validation and binding


def _user_params(name: str) -> list[str]:
    signature = inspect.signature(LOSSES.get(name))
    return [p for p in list(signature.parameters)[2:] if p != "weight"]


def loss_accepts_weight(name: str) -> bool:
    """Whether the loss `name` takes class weights."""
    return "weight" in inspect.signature(LOSSES.get(name)).parameters


def check_loss_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate `train.loss` and `train.loss_params` against the loss's signature.

    Raises:
        ConfigError: an unknown loss (with close matches) or an unknown parameter.
    """
    params = dict(params or {})
    accepted = _user_params(name)
    unknown = [key for key in params if key not in accepted]
    if unknown:
        import difflib

        hints = [
            f"{key} (did you mean '{close[0]}'?)" if close else key
            for key in unknown
            for close in [difflib.get_close_matches(key, accepted, n=1, cutoff=0.5)]
        ]
        raise ConfigError(
            f"train.loss_params: unknown parameter(s) {', '.join(hints)} for loss '{name}'; "
            f"parameters: {', '.join(accepted) or 'none'}"
        )
    # A dry run on a tiny batch checks the values too (gamma < 0, q = 0, a string), at load time.
    try:
        LOSSES.get(name)(torch.zeros(2, 3), torch.tensor([0, 1]), **params)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"train.loss_params for loss '{name}': {exc}") from None
    return params


def build_loss(
    name: str, params: dict[str, Any] | None = None, weight: torch.Tensor | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """`(logits, labels) -> loss` for the named loss, its parameters and class weights.

    Raises:
        ConfigError: bad name/parameters, or class weights for a loss that cannot use them.
    """
    fn = LOSSES.get(name)
    params = check_loss_params(name, params)
    if weight is not None:
        if not loss_accepts_weight(name):
            raise ConfigError(
                f"train.loss={name} does not support class weights; set "
                "train.class_weights=none or pick a loss that does (e.g. cross_entropy, focal)"
            )
        params["weight"] = weight

    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        extra = dict(params)
        if "weight" in extra:
            extra["weight"] = extra["weight"].to(device=logits.device, dtype=logits.dtype)
        return fn(logits, labels, **extra)

    return loss

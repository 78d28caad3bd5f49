"""Rewards for RL fine-tuning: `reward(prompts, completions) -> (N,) tensor`, higher is better.

- `KeywordReward`: the share of a completion's words that are one of some keywords (0..1). A
  simple built-in reward, used in tests.
- `ClassifierReward`: a pretune classifier's probability that the completion is about one
  label (e.g. `sports`). The classifier has its own tokenizer: completions are decoded to text
  by the policy's tokenizer and re-encoded by the classifier's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pretune.errors import ConfigError
from pretune.models.load import quiet_transformers

__all__ = ["ClassifierReward", "KeywordReward", "Reward", "build_reward", "load_classifier_reward"]

Reward = Callable[[Sequence[str], Sequence[str]], torch.Tensor]

_WORD = re.compile(r"\w+")


@dataclass
class KeywordReward:
    """Share of the completion's words that are keywords (case-insensitive); 0 when empty."""

    keywords: frozenset[str]

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        scores = []
        for text in completions:
            words = _WORD.findall(text.lower())
            scores.append(sum(w in self.keywords for w in words) / len(words) if words else 0.0)
        return torch.tensor(scores, dtype=torch.float32)


@dataclass
class ClassifierReward:
    """Probability of `label` under a sequence classifier, for each completion."""

    model: Any
    tokenizer: Any
    label: str
    label_index: int
    batch_size: int = 64
    max_length: int = 128

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        scores = []
        device = next(self.model.parameters()).device
        for start in range(0, len(completions), self.batch_size):
            texts = list(completions[start : start + self.batch_size])
            enc = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits
            scores.append(logits.float().softmax(-1)[:, self.label_index].cpu())
        return torch.cat(scores) if scores else torch.zeros(0)


@quiet_transformers()
def load_classifier_reward(path: str, label: str, batch_size: int = 64) -> ClassifierReward:
    """The classifier of a pretune run (or checkpoint folder) as a reward for `label`.

    Raises:
        ConfigError: the run does not exist, is not a sequence classifier, or has no such label
            (the message lists its labels).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from pretune.models.load import load_tokenizer, resolve_model_path

    try:
        folder = resolve_model_path(path)
    except ConfigError as exc:
        raise ConfigError(
            f"reward.classifier={path}: not found ({exc}); give the run folder of a pretune "
            "classifier (e.g. runs/<finetune run>)"
        ) from None
    config = AutoConfig.from_pretrained(str(folder))
    archs = config.architectures or []
    if not any("SequenceClassification" in a for a in archs):
        raise ConfigError(
            f"reward.classifier={path} holds a {archs[0] if archs else config.model_type}, not "
            "a text classifier; give a `pretune finetune` / quickstart run"
        )
    labels = [config.id2label[i] for i in sorted(config.id2label)]
    if label not in labels:
        close = difflib.get_close_matches(label, labels, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"reward.label={label} is not a label of {path}{hint}; its labels: {', '.join(labels)}"
        )
    model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    model.eval()
    model.requires_grad_(False)
    tokenizer = load_tokenizer(folder)
    max_length = min(getattr(tokenizer, "model_max_length", 128) or 128, 128)
    return ClassifierReward(
        model, tokenizer, label, labels.index(label), batch_size, max_length=max_length
    )


def build_reward(reward_cfg: Any) -> Reward:
    """The reward a `reward:` config section describes (classifier, else keywords)."""
    if reward_cfg.classifier:
        return load_classifier_reward(
            reward_cfg.classifier, reward_cfg.label, reward_cfg.batch_size
        )
    return KeywordReward(frozenset(k.lower() for k in reward_cfg.keywords))

"""Zero-shot classification: no labelled examples, only label names (or descriptions).

Two scorers:
- embedding similarity: texts and label prompts are embedded with the same sentence encoder;
  a text's class is the label whose prompt embedding is nearest (cosine). Prompt templates and
  descriptions give the label side more words to match; several prompts per label are
  averaged (prompt ensembling).
- an MLM cloze: "<text> This article is about [MASK]." and the masked LM's score of each
  label word at the mask. This needs a *trained* MLM head (see `has_trained_mlm_head`).

Self-training then uses unlabelled text: the zero-shot scores pseudo-label it, the most
confident rows of each class train a logistic head on the embeddings, whose predictions
become the next round's pseudo-labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.errors import ConfigError
from pretune.transfer.embed import Encoder, embed_texts
from pretune.transfer.fewshot import fit_logreg

__all__ = [
    "cloze_scores",
    "has_trained_mlm_head",
    "label_embeddings",
    "label_prompts",
    "self_train",
]


def label_prompts(
    labels: Sequence[str],
    templates: Sequence[str] = ("{label}",),
    descriptions: Mapping[str, str] | None = None,
    label_text: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """The texts that stand for each label: every template filled with the label's words,
    plus its description when one is given."""
    out = []
    for label in labels:
        words = (label_text or {}).get(label, label)
        prompts = [t.format(label=words) for t in templates]
        if descriptions and descriptions.get(label):
            prompts.append(descriptions[label])
        out.append(prompts)
    return out


def label_embeddings(
    encoder: Encoder, prompts: Sequence[Sequence[str]], max_length: int
) -> np.ndarray:
    """(K, H): the normalised mean of each label's prompt embeddings."""
    flat = [p for group in prompts for p in group]
    emb = embed_texts(encoder, flat, max_length)
    out, start = [], 0
    for group in prompts:
        mean = emb[start : start + len(group)].mean(0)
        out.append(mean / max(np.linalg.norm(mean), 1e-12))
        start += len(group)
    return np.stack(out)


def _most_confident(scores: np.ndarray, keep_fraction: float) -> np.ndarray:
    """Rows kept for self-training: the most confident `keep_fraction` of each predicted class
    (by the margin between the best and second-best score), at least one, in row order."""
    pred = scores.argmax(1)
    top2 = np.sort(scores, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    keep = []
    for c in range(scores.shape[1]):
        rows = np.flatnonzero(pred == c)
        n = max(1, round(keep_fraction * len(rows))) if len(rows) else 0
        keep.extend(rows[np.argsort(-margin[rows])[:n]].tolist())
    return np.array(sorted(keep))


def self_train(
    x_unlabelled: np.ndarray,
    scores: np.ndarray,
    rounds: int,
    keep_fraction: float,
    fit_head: Callable[[np.ndarray, np.ndarray], Any] = fit_logreg,
) -> tuple[Any, list[dict[str, Any]]]:
    """Pseudo-label, keep the most confident `keep_fraction` of each predicted class, fit a
    head (`fit_head(x, y)`: a logistic regression by default), score with it, repeat.

    Keeping a share *per class* (not a global threshold) stops one dominant class from taking
    over the pseudo-labels. Returns the last head and per-round {kept, per_class}.
    """
    head, history = None, []
    k = scores.shape[1]
    for _ in range(rounds):
        pred = scores.argmax(1)
        keep = _most_confident(scores, keep_fraction)
        if len(np.unique(pred[keep])) < 2:
            break  # everything collapsed to one class: nothing to learn from
        head = fit_head(x_unlabelled[keep], pred[keep])
        scores = np.full((len(x_unlabelled), k), -1e9)
        scores[:, head.classes_] = head.predict_log_proba(x_unlabelled)
        history.append(
            {"kept": len(keep), "per_class": np.bincount(pred[keep], minlength=k).tolist()}
        )
    return head, history


def has_trained_mlm_head(path: Path) -> bool:
    """True when the checkpoint's weights include an MLM prediction head.

    Sentence-embedding checkpoints (e.g. the bundled all-MiniLM-L6-v2, saved as a bare
    BertModel) have none: loading them as a masked LM creates the head's transform at random,
    so its [MASK] predictions carry no meaning.
    """
    from safetensors import safe_open

    files = sorted(path.glob("*.safetensors"))
    index = path / "model.safetensors.index.json"
    if index.is_file():
        names = list(json.loads(index.read_text())["weight_map"])
    elif files:
        names = []
        for f in files:
            with safe_open(str(f), "pt") as handle:
                names.extend(handle.keys())
    else:
        bins = sorted(path.glob("pytorch_model*.bin"))
        names = (
            list(torch.load(str(bins[0]), map_location="cpu", weights_only=True)) if bins else []
        )
    markers = ("cls.predictions", "lm_head", "vocab_transform", "vocab_projector", "lm_predictions")
    return any(any(m in n for m in markers) for n in names)


def _label_token_ids(tokenizer: Any, labels: Sequence[str]) -> list[list[int]]:
    out = []
    for label in labels:
        ids = tokenizer(" " + label, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError(f"label '{label}' tokenizes to nothing; give it words")
        out.append(ids)
    return out


def cloze_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    template: str,
    max_length: int,
    batch_size: int = 16,
) -> np.ndarray:
    """(N, K) log-probabilities at the [MASK] of "<text> <template>" for each label word.

    A label of several tokens scores the mean log-probability of its tokens at the one mask
    position (a common, cheap approximation). The text is cut so the prompt always fits.
    """
    if tokenizer.mask_token is None:
        raise ConfigError("the cloze scorer needs a tokenizer with a mask token ([MASK])")
    if "{mask}" not in template:
        raise ConfigError(f"zeroshot cloze_template must contain '{{mask}}', got {template!r}")
    prompt = template.format(mask=tokenizer.mask_token)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    budget = max_length - len(prompt_ids) - 3
    if budget < 1:
        raise ConfigError(f"model.max_length={max_length} leaves no room for the text in the cloze")
    label_ids = _label_token_ids(tokenizer, labels)
    model.eval()
    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            bodies = [
                tokenizer.decode(tokenizer(t, add_special_tokens=False, truncation=True,
                                           max_length=budget)["input_ids"])
                for t in chunk
            ]  # fmt: skip
            enc = tokenizer([f"{b} {prompt}" for b in bodies], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")  # fmt: skip
            logits = model(**enc).logits  # (B, L, V)
            rows, cols = (enc["input_ids"] == tokenizer.mask_token_id).nonzero(as_tuple=True)
            logp = torch.log_softmax(logits[rows, cols].float(), dim=-1)  # (B, V), one mask each
            for k, ids in enumerate(label_ids):
                out[start + rows.numpy(), k] = logp[:, ids].mean(-1).numpy()
    return out

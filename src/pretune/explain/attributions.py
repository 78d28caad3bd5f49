"""Token and word attributions for a text classifier (captum): IG, KernelSHAP and LIME.

Each method answers "how much did each word push the predicted class?" for one text:
- integrated gradients (`ig`) on the word embeddings, baseline = the same text with every
  non-special token replaced by [PAD]; the attributions of the target-class *logit* sum to
  f(x) - f(baseline) up to the reported convergence delta (the completeness check);
- KernelSHAP (`shap`) and LIME (`lime`) perturb whole words (token groups) towards the same
  baseline and explain the target-class *probability*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "METHODS",
    "Attribution",
    "Explainer",
    "words_and_mask",
]

METHODS = ("ig", "shap", "lime")


@dataclass
class Attribution:
    """One method's answer for one text: a score per word (and per token for IG)."""

    method: str
    words: list[str]
    scores: list[float]
    target: int
    extra: dict[str, Any] = field(default_factory=dict)


def words_and_mask(encoding: Any, text: str) -> tuple[list[str], torch.Tensor]:
    """The words of `text` and, for each token, the index of its word (-1 for specials).

    Words are the tokenizer's own pre-tokenized words (its `word_ids`), so sub-word pieces of
    one word share one score.
    """
    word_ids = encoding.word_ids(0)
    offsets = encoding["offset_mapping"][0].tolist()
    spans: dict[int, list[int]] = {}
    for wid, (start, end) in zip(word_ids, offsets, strict=False):
        if wid is not None:
            span = spans.setdefault(wid, [start, end])
            span[1] = end
    order = sorted(spans)
    index = {wid: i for i, wid in enumerate(order)}
    words = [text[spans[w][0] : spans[w][1]] for w in order]
    mask = torch.tensor([index[w] if w is not None else -1 for w in word_ids])
    return words, mask


class Explainer:
    """Wraps a sequence classifier and its tokenizer for attribution methods."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, text: str) -> Any:
        return self.tokenizer(
            text, return_tensors="pt", truncation=True, max_length=self.max_length,
            return_offsets_mapping=True,
        )  # fmt: skip

    def baseline_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[PAD] everywhere except special tokens ([CLS], [SEP]), which stay."""
        special = torch.tensor(
            self.tokenizer.get_special_tokens_mask(
                input_ids[0].tolist(), already_has_special_tokens=True
            ),
            dtype=torch.bool,
        )  # fmt: skip
        base = torch.full_like(input_ids, self.tokenizer.pad_token_id)
        base[0, special] = input_ids[0, special]
        return base

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def probs(self, texts: list[str]) -> torch.Tensor:
        """Class probabilities of several texts (batched, no gradient)."""
        enc = self.tokenizer(texts, return_tensors="pt", truncation=True, padding=True,
                             max_length=self.max_length)  # fmt: skip
        return torch.softmax(self.logits(enc["input_ids"], enc["attention_mask"]), -1)

    def integrated_gradients(
        self, text: str, target: int | None = None, steps: int = 64
    ) -> Attribution:
        """IG on the word embeddings; `extra` holds the completeness numbers."""
        from captum.attr import LayerIntegratedGradients

        enc = self.encode(text)
        ids, att = enc["input_ids"], enc["attention_mask"]
        base = self.baseline_ids(ids)
        if target is None:
            target = int(self.logits(ids, att).argmax(-1))

        def forward(input_ids: torch.Tensor) -> torch.Tensor:
            return self.model(
                input_ids=input_ids, attention_mask=att.expand(input_ids.shape[0], -1)
            ).logits

        lig = LayerIntegratedGradients(forward, self.model.get_input_embeddings())
        attr, delta = lig.attribute(
            ids, baselines=base, target=target, n_steps=steps, return_convergence_delta=True,
            internal_batch_size=16,
        )  # fmt: skip
        per_token = attr.sum(-1)[0].detach()
        f_x = float(self.logits(ids, att)[0, target])
        f_b = float(self.logits(base, att)[0, target])
        words, mask = words_and_mask(enc, text)
        scores = [float(per_token[mask == i].sum()) for i in range(len(words))]
        tokens = self.tokenizer.convert_ids_to_tokens(ids[0].tolist())
        extra = {
            "f_x": f_x, "f_baseline": f_b, "sum": float(per_token.sum()),
            "delta": float(delta.abs().max()), "tokens": tokens,
            "token_scores": per_token.tolist(),
        }  # fmt: skip
        return Attribution("ig", words, scores, target, extra)

    def _perturbation(self, name: str, text: str, target: int | None, samples: int) -> Attribution:
        from captum.attr import KernelShap, Lime

        enc = self.encode(text)
        ids, att = enc["input_ids"], enc["attention_mask"]
        words, mask = words_and_mask(enc, text)
        if target is None:
            target = int(self.logits(ids, att).argmax(-1))
        # Specials form one extra group kept at its own value (baseline = same id there).
        groups = torch.where(mask < 0, torch.tensor(len(words)), mask).unsqueeze(0)

        def forward(input_ids: torch.Tensor) -> torch.Tensor:
            mask_rows = att.expand(input_ids.shape[0], -1)
            with torch.no_grad():
                logits = self.model(input_ids=input_ids, attention_mask=mask_rows).logits
            return torch.softmax(logits, -1)

        if name == "shap":
            method = KernelShap(forward)
        else:
            from captum._utils.models.linear_model import SkLearnLinearRegression

            # captum's default Lasso (alpha 0.01) zeroes every word when the probability moves
            # by less than that; plain least squares keeps small but real effects.
            method = Lime(forward, interpretable_model=SkLearnLinearRegression())
        attr = method.attribute(
            ids, baselines=self.baseline_ids(ids), target=target, feature_mask=groups,
            n_samples=samples, perturbations_per_eval=16,
        )  # fmt: skip
        per_token = attr[0].float()
        scores = [float(per_token[mask == i][0]) if (mask == i).any() else 0.0
                  for i in range(len(words))]  # fmt: skip
        return Attribution(name, words, scores, target, {"samples": samples})

    def explain(
        self, text: str, method: str, target: int | None = None, samples: int = 200
    ) -> Attribution:
        """One method's attribution for `text` (target: the predicted class by default)."""
        if method == "ig":
            return self.integrated_gradients(text, target)
        return self._perturbation(method, text, target, samples)

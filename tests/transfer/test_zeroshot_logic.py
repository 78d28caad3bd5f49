"""Zero-shot pieces: prompts, self-training, the MLM-head check and the cloze scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pretune.transfer.zeroshot import (
    cloze_scores,
    has_trained_mlm_head,
    label_prompts,
    self_train,
)


def test_label_prompts_fill_templates_and_add_descriptions() -> None:
    prompts = label_prompts(
        ["tech", "sport"],
        ["{label}", "This article is about {label}."],
        {"sport": "football and tennis"},
        {"tech": "technology"},
    )
    assert prompts == [
        ["technology", "This article is about technology."],
        ["sport", "This article is about sport.", "football and tennis"],
    ]


def test_self_training_fixes_a_biased_zero_shot_scorer() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 2
    y = np.repeat(np.arange(3), 100)
    x = centres[y] + rng.normal(size=(300, 8))
    # A weak scorer: the true centres blurred with noise and a bias towards class 0.
    scores = x @ (centres + rng.normal(size=(3, 8)) * 1.5).T + np.array([4.0, 0, 0])
    before = (scores.argmax(1) == y).mean()
    head, history = self_train(x, scores, rounds=3, keep_fraction=0.3)
    after = (head.predict(x) == y).mean()
    assert after > before + 0.05 and len(history) == 3
    assert all(sum(h["per_class"]) == h["kept"] for h in history)


def test_mlm_head_check(tiny_bert: Path) -> None:
    from pretune.models.load import resolve_model_path

    assert has_trained_mlm_head(tiny_bert)  # saved as BertForMaskedLM
    assert not has_trained_mlm_head(resolve_model_path("minilm"))  # a bare BertModel


def test_cloze_scores_read_the_mask_position(tiny_bert: Path) -> None:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model = AutoModelForMaskedLM.from_pretrained(str(tiny_bert))
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    texts = ["the match goal team", "bank market shares profit economy " * 20]
    s = cloze_scores(model, tok, texts, ["sport", "money"], "about {mask}.", max_length=24)
    assert s.shape == (2, 2) and np.isfinite(s).all()
    # Reference for the first text, computed by hand.
    enc = tok("the match goal team about [MASK].", return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[0]
    pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0])
    logp = torch.log_softmax(logits[pos], -1)
    for k, word in enumerate(["sport", "money"]):
        ids = tok(" " + word, add_special_tokens=False)["input_ids"]
        assert abs(float(logp[ids].mean()) - s[0, k]) < 1e-4

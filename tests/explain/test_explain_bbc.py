"""Sanity of the explanations on real BBC News with the real MiniLM (integration, a few minutes).

Fine-tunes MiniLM briefly on 200 BBC articles, then checks on validation articles that
integrated gradients is complete and that deleting the top-attributed words hurts the
predicted class more than deleting as many random words (the deletion test).
"""

from __future__ import annotations

import random

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

K = 5  # words deleted per text


@pytest.fixture(scope="module")
def bbc_run(tmp_path_factory):
    from pretune.catalog import load_recipe_config
    from pretune.data.text_classification import prepare_data
    from pretune.recipes.finetune import run_finetune

    overrides = [
        "data.source=bbc", "model.init_from=minilm", "data.max_train_examples=200",
        "model.max_length=128", "train.epochs=2", "name=bbc",
        f"output_dir={tmp_path_factory.mktemp('bbc')}",
    ]  # fmt: skip
    cfg = load_recipe_config("quickstart", None, overrides)
    summary = run_finetune(cfg, log=lambda _: None, live_progress=False)
    texts = list(prepare_data(cfg.data, cfg.seed).splits["validation"]["text"][:10])
    return summary["run_dir"], texts


def _first_words(text: str, n: int = 60) -> str:
    # Short texts keep IG cheap and inside max_length, so every word is seen by the model.
    return " ".join(text.split()[:n])


def test_ig_completeness_on_bbc(bbc_run):
    from pretune.explain.run import load_explainer

    run_dir, texts = bbc_run
    explainer = load_explainer(run_dir)
    for text in texts[:3]:
        attr = explainer.integrated_gradients(_first_words(text), steps=64)
        gap = attr.extra["f_x"] - attr.extra["f_baseline"]
        assert abs(attr.extra["sum"] - gap) < 0.05 * abs(gap), attr.extra


def test_deleting_top_words_hurts_more_than_random(bbc_run):
    from pretune.explain.run import load_explainer

    run_dir, texts = bbc_run
    explainer = load_explainer(run_dir)
    rng = random.Random(0)
    top_drops, random_drops = [], []
    for text in texts:
        attr = explainer.integrated_gradients(_first_words(text), steps=32)
        words, target = attr.words, attr.target
        base = float(explainer.probs([" ".join(words)])[0, target])
        top = set(sorted(range(len(words)), key=lambda i: attr.scores[i], reverse=True)[:K])
        kept = " ".join(w for i, w in enumerate(words) if i not in top)
        top_drops.append(base - float(explainer.probs([kept])[0, target]))
        for _ in range(3):
            drop = set(rng.sample(range(len(words)), K))
            kept = " ".join(w for i, w in enumerate(words) if i not in drop)
            random_drops.append(base - float(explainer.probs([kept])[0, target]))
    mean_top = sum(top_drops) / len(top_drops)
    mean_random = sum(random_drops) / len(random_drops)
    print(f"deletion test: top-{K} drop {mean_top:.4f}, random drop {mean_random:.4f}")
    assert mean_top > mean_random

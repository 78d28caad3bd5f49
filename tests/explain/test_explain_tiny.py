"""Explanations on the tiny BERT: completeness of IG, word grouping, rollout, rules, the page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import TOPICS, make_rows, tiny_overrides
from pretune.config import load_config, save_config
from pretune.errors import ConfigError
from pretune.explain.attention import attentions, rollout
from pretune.explain.attributions import Attribution
from pretune.explain.global_rules import extract_rules, influential_words
from pretune.explain.run import explain_run, load_explainer

TEXT = "the match goal team coach won the cup on saturday"


@pytest.fixture(scope="module")
def tiny_run(tiny_bert, tiny_csv, tmp_path_factory) -> Path:
    """A run folder holding an (untrained) tiny 3-class classifier and its config."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    run = tmp_path_factory.mktemp("run") / "r"
    labels = sorted(TOPICS)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        str(tiny_bert), num_labels=3, id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )  # fmt: skip
    model.save_pretrained(str(run / "model"))
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(run / "model"))
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, run.parent))
    save_config(cfg, run / "config.yaml")
    return run


@pytest.mark.slow
def test_ig_completeness(tiny_run):
    attr = load_explainer(tiny_run).integrated_gradients(TEXT, steps=64)
    gap = attr.extra["f_x"] - attr.extra["f_baseline"]
    assert abs(attr.extra["sum"] - gap) <= 0.05 * abs(gap) + 1e-3
    assert attr.extra["delta"] < 0.05 * abs(gap) + 1e-3
    assert abs(sum(attr.scores) - attr.extra["sum"]) < 1e-3 + 0.05 * abs(gap)  # specials ~0
    assert attr.words[:3] == ["the", "match", "goal"] and len(attr.words) == len(TEXT.split())


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_perturbation_methods_score_every_word(tiny_run, method):
    explainer = load_explainer(tiny_run)
    attr = explainer.explain(TEXT, method, samples=60)
    assert len(attr.scores) == len(TEXT.split())
    assert any(abs(s) > 1e-6 for s in attr.scores)
    assert attr.target == int(explainer.probs([TEXT])[0].argmax())


def test_attention_and_rollout(tiny_run):
    explainer = load_explainer(tiny_run)
    tokens, att = attentions(explainer.model, explainer.tokenizer, TEXT)
    assert att.shape == (2, 2, len(tokens), len(tokens))
    roll = rollout(att)
    assert torch.allclose(roll.sum(-1), torch.ones(len(tokens)), atol=1e-5)
    # Identity attention leaves rollout as identity.
    eye = torch.eye(4).expand(3, 2, 4, 4)
    assert torch.allclose(rollout(eye), torch.eye(4))


def test_rules_mimic_predictions_with_fidelity():
    rows = make_rows(40, seed=3)
    texts = [t for t, _ in rows]
    predicted = [label for _, label in rows]  # a "model" that is the topic
    rules = extract_rules(texts, predicted, depth=4)
    assert rules.fidelity > 0.7 and rules.n_heldout == 36
    assert "present" in rules.text and "class: " in rules.text
    with pytest.raises(ValueError, match="at least 10"):
        extract_rules(texts[:3], predicted[:3])


def test_influential_words_average_per_class():
    attrs = [
        Attribution("ig", ["Goal", "the"], [1.0, 0.1], 0),
        Attribution("ig", ["goal", "the"], [3.0, -0.1], 0),
        Attribution("ig", ["bank", "the"], [2.0, 0.0], 1),
    ]
    words = influential_words(attrs, ["sport", "money"], min_count=2)
    assert words["sport"][0] == ("goal", 2.0, 2)
    assert words["money"] == []


@pytest.mark.slow
def test_explain_run_writes_page(tiny_run, tmp_path):
    out = tmp_path / "page.html"
    found = explain_run(tiny_run, [TEXT], ["ig", "lime"], output=out, global_=True, limit=30,
                        ig_texts=6, log=lambda _: None)  # fmt: skip
    assert found.page == out
    (item,) = found.texts
    probs = load_explainer(tiny_run).probs([TEXT])[0]
    assert item["probability"] == pytest.approx(float(probs.max()), abs=1e-6)
    ig = item["top_words"]["ig"]
    assert len(ig) == 5 and [abs(s) for _, s in ig] == sorted((abs(s) for _, s in ig), reverse=True)
    html = out.read_text()
    assert 'class="tok"' in html and "data:image/png;base64," in html
    assert "Integrated gradients" in html and "LIME" in html and "fidelity" in html
    assert (tmp_path / "explain.json").is_file()
    with pytest.raises(ConfigError, match="method=nope"):
        explain_run(tiny_run, [TEXT], ["nope"], output=out)
    with pytest.raises(ConfigError, match="text="):
        explain_run(tiny_run, [], ["ig"], output=out)


@pytest.mark.integration
def test_page_renders_in_headless_chromium(tiny_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    page = explain_run(tiny_run, [TEXT], ["ig"], output=tmp_path / "index.html",
                       log=lambda _: None).page  # fmt: skip
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1280,2000", page.as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000  # a blank page is ~5 KB

"""Magnitude and structured pruning on the tiny BERT, and `pretune prune` on the tiny run."""

from __future__ import annotations

import json

import pytest
import torch

from pretune.cli.main import main
from pretune.deploy.prune import (
    count_parameters,
    encoder_layers,
    linear_sparsity,
    prune_model,
)
from pretune.runs import load_run_model


@pytest.fixture(scope="module")
def model(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=3).eval()


def _logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


IDS = torch.randint(5, 300, (4, 12), generator=torch.Generator().manual_seed(0))


def test_magnitude_reaches_the_amount_and_leaves_the_original(model):
    pruned = prune_model(model, "magnitude", 0.4)
    assert linear_sparsity(pruned) == pytest.approx(0.4, abs=0.01)
    assert linear_sparsity(model) < 0.01
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())
    assert count_parameters(pruned) == count_parameters(model)  # dense: same size
    assert pruned.classifier.weight.count_nonzero() == pruned.classifier.weight.numel()


def test_heads_are_zeroed_but_one_kept_per_layer(model):
    pruned = prune_model(model, "heads", 0.9)  # 4 heads in all; at most one per layer goes
    for layer in encoder_layers(pruned):
        q = layer.attention.self.query.weight.view(2, 16, 32)
        zero_heads = [(q[h] == 0).all().item() for h in range(2)]
        assert zero_heads.count(True) == 1
        dead = zero_heads.index(True)
        assert (layer.attention.output.dense.weight[:, dead * 16 : (dead + 1) * 16] == 0).all()
    assert not torch.allclose(_logits(pruned, IDS), _logits(model, IDS))


def test_ffn_pruning_shrinks_layers_and_survives_save_and_load(model, tmp_path):
    from transformers import AutoModelForSequenceClassification

    pruned = prune_model(model, "ffn", 0.5)
    assert pruned.config.intermediate_size == 32 and model.config.intermediate_size == 64
    assert encoder_layers(pruned)[0].intermediate.dense.weight.shape == (32, 32)
    assert count_parameters(pruned) < count_parameters(model)
    pruned.save_pretrained(str(tmp_path))
    loaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path)).eval()
    assert torch.allclose(_logits(loaded, IDS), _logits(pruned, IDS), atol=1e-6)


def test_ffn_pruning_zero_amount_is_exact(model):
    assert torch.allclose(_logits(prune_model(model, "ffn", 0.0), IDS), _logits(model, IDS))


def test_layer_dropping_keeps_the_bottom_layers(model):
    pruned = prune_model(model, "layers", 0.5)
    assert len(encoder_layers(pruned)) == 1 and pruned.config.num_hidden_layers == 1
    first = encoder_layers(model)[0].intermediate.dense.weight
    assert torch.equal(encoder_layers(pruned)[0].intermediate.dense.weight, first)
    assert prune_model(model, "layers", 0.99).config.num_hidden_layers == 1  # never zero


@pytest.mark.parametrize(("method", "amount"), [("bogus", 0.3), ("magnitude", 1.5)])
def test_bad_method_or_amount_is_a_config_error(model, method, amount):
    from pretune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"method=bogus|amount=1\.5"):
        prune_model(model, method, amount)


def test_prune_cli_saves_model_and_report(tiny_run, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert main(["prune", "--json", str(tiny_run), "method=ffn", "amount=0.5", f"output={out}",
                 "repeats=1"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["after"]["intermediate_size"] == 32
    assert report["after"]["parameters"] < report["before"]["parameters"]
    assert report["size_ratio"] < 1
    assert load_run_model(out).model.config.intermediate_size == 32  # loadable, same labels
    assert json.loads((out / "prune_report.json").read_text())["method"] == "ffn"


def test_prune_curve_writes_json_and_png(tiny_run, tmp_path, capsys):
    out = tmp_path / "curves"
    assert main(["prune", str(tiny_run), "method=magnitude", "curve=0.3,0.6",
                 f"output={out}", "repeats=1"]) == 0  # fmt: skip
    curve = json.loads((out / "magnitude.json").read_text())
    assert [p["amount"] for p in curve["points"]] == [0.0, 0.3, 0.6]
    assert curve["points"][2]["linear_sparsity"] == pytest.approx(0.6, abs=0.01)
    assert (out / "magnitude.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["prune", str(tiny_run), "curve=0.3", "finetune_steps=2"]) == 2


@pytest.mark.slow
def test_prune_then_finetune_keeps_sparsity(tiny_run, tmp_path):
    from pretune.deploy.prune_run import prune_run
    from pretune.recipes.finetune import run_finetune

    report = prune_run(
        tiny_run,
        "magnitude",
        0.5,
        tmp_path / "p",
        finetune_steps=3,
        train_fn=run_finetune,
        repeats=1,
    )
    assert report["after_finetune"]["steps"] == 3
    assert report["after_finetune"]["linear_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert linear_sparsity(load_run_model(tmp_path / "p").model) == pytest.approx(0.5, abs=0.01)

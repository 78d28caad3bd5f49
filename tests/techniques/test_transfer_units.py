"""Transfer techniques on their own: layer grouping, LR scales, unfreezing schedule, LoRA."""

from __future__ import annotations

import pytest
import torch

from pretune.errors import ConfigError
from pretune.techniques.gradual_unfreeze import layer_groups_top_down, unfrozen_groups
from pretune.techniques.layerwise_lr import LayerwiseLR, layer_depth, layer_lr_scales, num_layers
from pretune.techniques.registry import build_techniques
from pretune.train.optim import parameter_groups

NAMES = [
    "bert.embeddings.word_embeddings.weight",
    "bert.embeddings.LayerNorm.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.1.output.dense.bias",
    "bert.pooler.dense.weight",
    "classifier.weight",
]


def test_layer_depth_orders_embeddings_blocks_head() -> None:
    assert num_layers(NAMES) == 2
    assert [layer_depth(n, 2) for n in NAMES] == [0, 0, 1, 2, 3, 3]
    # peft-wrapped names keep their depth
    assert layer_depth("base_model.model.bert.encoder.layer.1.attention.self.query.lora_A", 2) == 2


def test_layer_lr_scales_decay_downwards_and_boost_the_head() -> None:
    scales = layer_lr_scales(NAMES, decay=0.5, head_lr_multiplier=10.0)
    assert scales["classifier.weight"] == pytest.approx(10.0)
    assert scales["bert.pooler.dense.weight"] == pytest.approx(10.0)
    assert scales["bert.encoder.layer.1.output.dense.bias"] == pytest.approx(0.5)
    assert scales["bert.encoder.layer.0.attention.self.query.weight"] == pytest.approx(0.25)
    assert scales["bert.embeddings.word_embeddings.weight"] == pytest.approx(0.125)


def test_layerwise_groups_get_scaled_lrs_and_keep_weight_decay(tiny_bert) -> None:
    from transformers import AutoModelForSequenceClassification

    from pretune.config import RunConfig
    from pretune.train.setup import build_training

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=3)
    cfg = RunConfig.model_validate(
        {"train": {"lr": 1e-3, "max_steps": 4}, "techniques": {"layerwise_lr": {"decay": 0.5}}}
    )
    techniques = build_techniques(cfg.techniques)
    training = build_training(cfg, model, 10, techniques)
    groups = training.state.optimizer.param_groups
    lrs = sorted({round(g["initial_lr"], 8) for g in groups})
    assert lrs == [1.25e-4, 2.5e-4, 5e-4, 1e-3]
    assert {g["weight_decay"] for g in groups} == {0.0, 0.01}
    counted = sum(len(g["params"]) for g in groups)
    assert counted == sum(len(g["params"]) for g in parameter_groups(model, 0.01))


def test_layerwise_lr_rejects_bad_decay() -> None:
    with pytest.raises(ValueError, match="decay"):
        LayerwiseLR(decay=1.5)


def test_unfreeze_groups_top_down() -> None:
    groups = layer_groups_top_down(NAMES)
    assert groups[0] == ["bert.pooler.dense.weight", "classifier.weight"]
    assert groups[1] == ["bert.encoder.layer.1.output.dense.bias"]
    assert groups[-1][0].startswith("bert.embeddings")
    assert [unfrozen_groups(s, 0, 3, 4) for s in (0, 2, 3, 6, 9, 30)] == [1, 1, 2, 3, 4, 4]
    assert [unfrozen_groups(99, e, 0, 4) for e in (0, 1, 5)] == [1, 2, 4]


def test_unknown_technique_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_techniques({"lora": {"rank": 4}})


def test_lora_wraps_trains_few_parameters_and_merges(tiny_bert) -> None:
    from transformers import AutoModelForSequenceClassification

    from pretune.techniques.lora import LoRA

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=3)
    lora = LoRA(r=2)
    wrapped = lora.prepare_model(model)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    assert not any("word_embeddings" in n for n in trainable)
    with torch.no_grad():  # make the adapters matter, then check the merge keeps the function
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.normal_()
    wrapped.eval()
    inputs = {"input_ids": torch.tensor([[2, 10, 11, 12, 3]])}
    expected = wrapped(**inputs).logits
    merged = lora.export_model(wrapped)
    assert type(merged).__name__ == "BertForSequenceClassification"
    assert not any("lora" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(merged(**inputs).logits, expected, rtol=1e-4, atol=1e-5)


def test_lora_unknown_target_module_names_the_linear_layers(tiny_bert) -> None:
    from transformers import AutoModelForSequenceClassification

    from pretune.techniques.lora import LoRA

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=3)
    with pytest.raises(ConfigError, match=r"q_proj.*query"):
        LoRA(target_modules=["q_proj"]).prepare_model(model)

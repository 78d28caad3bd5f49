"""Xavier/Kaiming initialisation of a new head: the weights follow the expected spread."""

from __future__ import annotations

import math

import pytest
import torch

from pretune.errors import ConfigError
from pretune.models.init import init_model


class WithHead(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(400, 400)
        self.classifier = torch.nn.Linear(600, 200)


@pytest.mark.parametrize(
    ("method", "std"),
    [
        ("xavier_uniform", math.sqrt(2 / (600 + 200))),
        ("xavier_normal", math.sqrt(2 / (600 + 200))),
        ("kaiming_uniform", math.sqrt(2 / 600)),
        ("kaiming_normal", math.sqrt(2 / 600)),
    ],
)
def test_head_weights_follow_the_expected_std(method, std):
    torch.manual_seed(0)
    model = WithHead()
    body = model.body.weight.detach().clone()
    assert init_model(model, method) == ["classifier"]
    assert model.classifier.weight.detach().std().item() == pytest.approx(std, rel=0.03)
    assert model.classifier.bias.detach().abs().sum().item() == 0.0
    assert torch.equal(model.body.weight, body)  # the pre-trained body is untouched


def test_scope_all_and_errors():
    torch.manual_seed(0)
    model = WithHead()
    assert sorted(init_model(model, "xavier_normal", scope="all")) == ["body", "classifier"]
    assert model.body.weight.detach().std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.03)
    assert init_model(model, "none") == []
    with pytest.raises(ConfigError, match="no classification-head"):
        init_model(torch.nn.Linear(2, 2), "xavier_normal")


def test_config_init_and_dropout_reach_the_model(tiny_bert):
    from pretune.models.load import load_classifier

    torch.manual_seed(0)
    model = load_classifier(
        tiny_bert, ["a", "b"], max_length=32, hidden_dropout=0.3, attention_dropout=0.2
    )
    assert model.config.hidden_dropout_prob == 0.3
    assert model.config.attention_probs_dropout_prob == 0.2
    assert model.bert.encoder.layer[0].attention.self.dropout.p == 0.2
    init_model(model, "kaiming_normal")
    assert model.classifier.bias.detach().abs().sum().item() == 0.0


def test_attention_dropout_defaults_to_zero_and_null_keeps_the_checkpoints(tiny_bert):
    from pretune.config import load_config
    from pretune.models.load import load_classifier

    default = load_config(None, []).model.attention_dropout
    assert default == 0.0
    model = load_classifier(tiny_bert, ["a", "b"], max_length=32, attention_dropout=default)
    assert model.bert.encoder.layer[0].attention.self.dropout.p == 0.0
    kept = load_classifier(tiny_bert, ["a", "b"], max_length=32, attention_dropout=None)
    assert kept.config.attention_probs_dropout_prob == 0.1  # BertConfig's own


def test_zero_dropout_on_a_model_without_that_setting_is_not_an_error(tmp_path):
    from pretune.models.load import dropout_overrides

    class NoDropout:  # a config with no dropout attributes at all
        pass

    assert dropout_overrides(NoDropout(), 0.0, 0.0, tmp_path) == {}
    with pytest.raises(ConfigError, match=r"model\.attention_dropout"):
        dropout_overrides(NoDropout(), None, 0.1, tmp_path)

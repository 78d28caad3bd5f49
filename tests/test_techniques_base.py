"""The technique interface through the real recipe: config validation, set-up hooks, checkpointed
technique state (EMA) and an exact resume with a technique active."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_overrides
from pretune.catalog import load_recipe_config
from pretune.errors import ConfigError
from pretune.recipes.finetune import run_finetune
from pretune.techniques.ema import ema_update
from pretune.techniques.freeze import Freeze, freeze_parameters


def test_unknown_technique_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'ema'"):
        load_recipe_config("finetune", None, ["techniques.emma.decay=0.9"])


def test_unknown_technique_parameter_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"techniques.ema: unknown parameter\(s\) decy"):
        load_recipe_config("finetune", None, ["techniques.ema.decy=0.9"])


def test_technique_enabled_with_defaults():
    assert load_recipe_config("finetune", None, ["techniques.ema=true"]).techniques == {"ema": {}}


def test_ema_update_is_a_running_average():
    average, params = [torch.zeros(3)], [torch.ones(3)]
    ema_update(average, params, decay=0.75)
    ema_update(average, params, decay=0.75)
    torch.testing.assert_close(average[0], torch.full((3,), 1 - 0.75**2))


def test_freeze_parameters_linear_probe():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    trainable, total = freeze_parameters(model, train=["1.*"], freeze=[])
    assert (trainable, total) == (10, 30)
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad


def test_freeze_takes_one_pattern_given_as_text():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    Freeze(freeze="0.*").prepare_model(model)  # not the patterns "0", ".", "*"
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]


def test_linear_probe_trains_only_the_head(tiny_csv, tiny_bert, tmp_path):
    cfg = load_recipe_config(
        "finetune",
        None,
        tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=probe", "train.max_steps=3",
                       "techniques.freeze.train=[classifier.*]"),
    )  # fmt: skip
    summary = run_finetune(cfg, log=lambda _: None, live_progress=False)
    from safetensors.torch import load_file

    from pretune.models.load import load_classifier

    torch.manual_seed(0)  # the run seeds 0 before building its head: same initial weights
    start = load_classifier(tiny_bert, ["money", "sport", "tech"], max_length=64).state_dict()
    final = load_file(f"{summary['run_dir']}/model/model.safetensors")
    assert torch.equal(final["bert.encoder.layer.0.attention.self.query.weight"],
                       start["bert.encoder.layer.0.attention.self.query.weight"])  # fmt: skip
    assert not torch.equal(final["classifier.weight"], start["classifier.weight"])

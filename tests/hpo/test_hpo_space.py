"""The search-space YAML: parsing, clear errors naming the key, conditionals, applying values."""

from __future__ import annotations

import pytest

from pretune.config import RunConfig
from pretune.errors import ConfigError
from pretune.hpo.space import apply_params, grid_space, load_space, parse_space, sample_params

SPACE = {
    "train.lr": {"type": "float", "low": "1e-5", "high": 1e-3, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [8, 16]},
    "train.epochs": {"type": "int", "low": 1, "high": 3},
    "techniques.ema": {"type": "bool"},
    "techniques.ema.decay": {
        "type": "float", "low": 0.9, "high": 0.99, "when": {"techniques.ema": True},
    },
}  # fmt: skip


def test_parse_space_reads_every_type():
    params = {p.key: p for p in parse_space(SPACE)}
    assert params["train.lr"].low == pytest.approx(1e-5) and params["train.lr"].log
    assert params["train.batch_size"].choices == (8, 16)
    assert params["train.epochs"].type == "int" and params["train.epochs"].high == 3
    assert params["techniques.ema.decay"].when == {"techniques.ema": (True,)}


@pytest.mark.parametrize(
    ("space", "words"),
    [
        ({"train.lrr": {"type": "float", "low": 1, "high": 2}}, ["train.lrr", "train.lr"]),
        ({"train.lr": {"type": "float", "low": 2, "high": 1}}, ["train.lr", "below"]),
        ({"train.lr": {"type": "float", "low": 0, "high": 1, "log": True}}, ["train.lr", "log"]),
        ({"train.lr": {"type": "normal", "low": 0, "high": 1}}, ["train.lr", "type"]),
        ({"train.batch_size": {"type": "categorical"}}, ["train.batch_size", "choices"]),
        ({"train.lr": {"type": "float", "low": "abc", "high": 1}}, ["train.lr", "low"]),
        ({"train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "when": {"x.y": 1}}},
         ["train.lr", "x.y"]),
        ({"train.lr": 0.001}, ["train.lr", "mapping"]),
    ],
)  # fmt: skip
def test_bad_space_names_the_key(space, words):
    with pytest.raises(ConfigError) as info:
        parse_space(space)
    for word in words:
        assert word in str(info.value)


def test_load_space_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.lr: {type: float, low: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(bad)


class FixedTrial:
    """Answers every suggestion with a fixed value (records what was asked)."""

    def __init__(self, values):
        self.values, self.asked = values, []

    def _get(self, name, *args, **kwargs):
        self.asked.append(name)
        return self.values[name]

    suggest_float = suggest_int = suggest_categorical = _get


def test_conditional_parameter_only_sampled_when_active():
    space = parse_space(SPACE)
    values = {"train.lr": 1e-4, "train.batch_size": 8, "train.epochs": 2,
              "techniques.ema": False, "techniques.ema.decay": 0.95}  # fmt: skip
    off = FixedTrial(values)
    assert "techniques.ema.decay" not in sample_params(off, space)
    on = FixedTrial({**values, "techniques.ema": True})
    assert sample_params(on, space)["techniques.ema.decay"] == 0.95


def test_apply_params_sets_keys_and_toggles_techniques():
    base = RunConfig.model_validate({"techniques": {"ema": {}}})
    cfg = apply_params(base, {"train.lr": 3e-4, "techniques.ema": False}, name="t")
    assert cfg.train.lr == 3e-4 and "ema" not in cfg.techniques and cfg.name == "t"
    cfg = apply_params(RunConfig(), {"techniques.ema": True, "techniques.ema.decay": 0.9})
    assert cfg.techniques["ema"] == {"decay": 0.9}


def test_grid_needs_steps_for_floats():
    space = parse_space({"train.batch_size": {"type": "categorical", "choices": [8, 16]},
                         "train.epochs": {"type": "int", "low": 1, "high": 2}})  # fmt: skip
    assert grid_space(space) == {"train.batch_size": [8, 16], "train.epochs": [1, 2]}
    with pytest.raises(ConfigError, match=r"train\.lr"):
        grid_space(parse_space({"train.lr": {"type": "float", "low": 0.1, "high": 0.2}}))


def test_tpe_startup_trials_follow_the_budget():
    from pretune.hpo.study import default_startup_trials, make_sampler

    # Optuna's fixed 10 random trials would leave TPE nothing to do on a 12-trial budget.
    assert [default_startup_trials(n) for n in (4, 12, 16, 30, 100)] == [3, 4, 5, 10, 10]
    sampler = make_sampler(
        "tpe",
        parse_space({"train.lr": {"type": "float", "low": 0.1, "high": 1.0}}),
        seed=0,
        startup=4,
    )
    assert sampler._n_startup_trials == 4

"""The run config: override parsing, unknown keys, bad values, coupled fields, YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pretune.config import RunConfig, describe_fields, load_config, save_config
from pretune.errors import ConfigError
from pretune.train.optim import warmup_steps_for

# ---------------------------------------------------------------------------------------------
# Overrides: values are parsed as YAML (plus scientific notation without a dot)


def test_override_scientific_lr_is_a_float() -> None:
    cfg = load_config(None, ["train.lr=3e-5"])
    assert isinstance(cfg.train.lr, float)
    assert cfg.train.lr == pytest.approx(3e-05, rel=0, abs=0)


def test_override_int_null_and_str_values() -> None:
    cfg = load_config(
        None,
        [
            "train.max_steps=10",
            "model.classifier_dropout=null",
            "data.source=x.csv",
            "train.weight_decay=0.5",
            "train.group_by_length=false",
        ],
    )
    assert cfg.train.max_steps == 10
    assert type(cfg.train.max_steps) is int
    assert cfg.model.classifier_dropout is None
    assert cfg.data.source == "x.csv"
    assert cfg.train.weight_decay == 0.5
    assert cfg.train.group_by_length is False


def test_override_list_of_glob_patterns_is_a_list() -> None:
    # `*` starts a YAML alias, so `[*embeddings*]` is not YAML; it is still meant as a list.
    cfg = load_config(None, ["techniques.freeze.freeze=[*embeddings*, *layer.[01].*]"])
    assert cfg.techniques["freeze"]["freeze"] == ["*embeddings*", "*layer.[01].*"]
    cfg = load_config(None, ["techniques.freeze.train=[classifier.*]"])
    assert cfg.techniques["freeze"]["train"] == ["classifier.*"]


def test_override_nested_section_and_last_one_wins() -> None:
    cfg = load_config(None, ["data.clean.dedupe=exact", "train.lr=1e-3", "train.lr=2e-3"])
    assert cfg.data.clean.dedupe == "exact"
    assert cfg.train.lr == 2e-3


def test_defaults_without_anything() -> None:
    cfg = load_config(None)
    assert cfg == RunConfig()
    assert cfg.data.clean.dedupe == RunConfig().data.clean.dedupe


def test_recipe_defaults_are_applied_then_overridden() -> None:
    cfg = load_config(
        None,
        ["train.batch_size=4"],
        defaults={"train": {"batch_size": 8, "epochs": 3}},
    )
    assert cfg.train.batch_size == 4
    assert cfg.train.epochs == 3.0


def test_override_yaml_boolean_words_stay_text() -> None:
    # YAML 1.1 reads no/on/off as booleans; `mixed_precision=no` must stay the string.
    cfg = load_config(
        None, ["train.mixed_precision=bf16", "train.mixed_precision=no", "data.source=on"]
    )
    assert cfg.train.mixed_precision == "no"
    assert cfg.data.source == "on"


def test_override_boolean_fields_accept_words() -> None:
    cfg = load_config(None, ["train.deterministic=no", "train.group_by_length=false"])
    assert cfg.train.deterministic is False
    assert cfg.train.group_by_length is False
    assert load_config(None, ["model.freeze_embeddings=yes"]).model.freeze_embeddings is True


def test_override_without_equals_sign() -> None:
    with pytest.raises(ConfigError, match=r"train\.lr"):
        load_config(None, ["train.lr"])


def test_override_on_a_leaf_with_sub_key() -> None:
    with pytest.raises(ConfigError, match=r"'train\.lr' has no sub-keys"):
        load_config(None, ["train.lr.x=1"])


# ---------------------------------------------------------------------------------------------
# Unknown keys


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["trian.lr=1"])
    message = str(info.value)
    assert "'trian'" in message
    assert "did you mean 'train'" in message


def test_unknown_top_level_key_without_close_match_lists_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["zzzz=1"])
    message = str(info.value)
    assert "'zzzz'" in message
    assert "did you mean" not in message
    for key in ("data", "model", "train", "eval", "seed"):
        assert key in message


def test_unknown_nested_key_suggests_closest() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.lrr=1"])
    message = str(info.value)
    assert "'train.lrr'" in message
    assert "did you mean 'train.lr'" in message


def test_unknown_deeply_nested_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.clean.dedup=exact"])
    assert "'data.clean.dedup'" in str(info.value)
    assert "did you mean 'data.clean.dedupe'" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Bad values


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.lr=abc", "train.lr"),
        ("train.lr=0", "train.lr"),
        ("train.batch_size=0", "train.batch_size"),
        ("data.clean.dedupe=fuzzy", "data.clean.dedupe"),
        ("model.max_length=4", "model.max_length"),
        ("data.val_fraction=1.5", "data.val_fraction"),
        ("train.schedule=[1, 2]", "train.schedule"),
    ],
)
def test_bad_value_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert f"{key}:" in message
    assert "got" in message


def test_bad_value_shows_the_input() -> None:
    with pytest.raises(ConfigError, match="'fuzzy'"):
        load_config(None, ["data.clean.dedupe=fuzzy"])


# ---------------------------------------------------------------------------------------------
# Coupled fields: both are named, nothing is silently changed


def test_warmup_steps_and_ratio_both_set() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.warmup_steps=5", "train.warmup_ratio=0.2"])
    message = str(info.value)
    assert "train.warmup_steps" in message
    assert "train.warmup_ratio" in message


def test_warmup_steps_alone_is_fine() -> None:
    cfg = load_config(None, ["train.warmup_steps=5"])
    assert cfg.train.warmup_steps == 5
    assert warmup_steps_for(cfg.train, 1000) == 5


def test_warmup_for_ratio_and_default() -> None:
    assert warmup_steps_for(load_config(None, ["train.warmup_ratio=0.25"]).train, 40) == 10
    assert warmup_steps_for(load_config(None).train, 200) == 20  # 10% when neither is set


def test_checkpoint_every_multiple_of_eval_every_is_fine() -> None:
    cfg = load_config(None, ["train.checkpoint_every=12", "train.eval_every=4"])
    assert (cfg.train.checkpoint_every, cfg.train.eval_every) == (12, 4)


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (0.6, 0.7)])
def test_split_fractions_leave_no_training_rows(val: float, test: float) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"data.val_fraction={val}", f"data.test_fraction={test}"])
    message = str(info.value)
    assert "data.val_fraction" in message
    assert "data.test_fraction" in message


def test_split_fractions_ignored_when_files_are_given() -> None:
    cfg = load_config(
        None,
        [
            "data.val_fraction=0.6",
            "data.test_fraction=0.6",
            "data.validation_file=v.csv",
            "data.test_file=t.csv",
        ],
    )
    assert cfg.data.validation_file == "v.csv"


def test_early_stopping_needs_several_evaluations() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.early_stopping_patience=2", "train.epochs=1"])
    message = str(info.value)
    assert "train.early_stopping_patience" in message
    assert "eval_every" in message


def test_early_stopping_with_eval_every_is_fine() -> None:
    cfg = load_config(None, ["train.early_stopping_patience=2", "train.eval_every=5"])
    assert cfg.train.early_stopping_patience == 2


def test_early_stopping_needs_a_validation_split() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            ["train.early_stopping_patience=2", "train.epochs=3", "data.val_fraction=0"],
        )
    message = str(info.value)
    assert "train.early_stopping_patience" in message
    assert "data.val_fraction" in message


# ---------------------------------------------------------------------------------------------
# YAML files


def test_yaml_file_merges_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "seed: 7\ntrain:\n  lr: 0.001\n  batch_size: 8\ndata:\n  clean:\n    dedupe: exact\n",
        encoding="utf-8",
    )
    cfg = load_config(path, ["train.lr=5e-4"])
    assert cfg.seed == 7
    assert cfg.train.lr == 5e-4  # the override wins
    assert cfg.train.batch_size == 8  # the file's value stays
    assert cfg.data.clean.dedupe == "exact"
    assert cfg.data.clean.drop_empty is True  # untouched defaults stay
    assert cfg.train.epochs == RunConfig().train.epochs


def test_yaml_file_overrides_recipe_defaults(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epochs: 2\n", encoding="utf-8")
    cfg = load_config(path, [], defaults={"train": {"epochs": 5, "batch_size": 3}})
    assert cfg.train.epochs == 2.0
    assert cfg.train.batch_size == 3


def test_yaml_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("train:\n  lrr: 0.001\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "'train.lrr'" in message
    assert "did you mean 'train.lr'" in message


def test_yaml_bad_value_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  batch_size: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "train.batch_size" in str(info.value)


def test_yaml_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_yaml_invalid_syntax(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("train: {lr: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == RunConfig()


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Save / load round trip and field descriptions


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "name=exp",
            "seed=3",
            "train.lr=3e-5",
            "train.max_steps=10",
            "train.mixed_precision=bf16",
            "train.eval_every=5",
            "train.checkpoint_every=10",
            "train.early_stopping_patience=2",
            "data.clean.dedupe=none",
            "data.clean.max_chars=500",
            "model.classifier_dropout=0.2",
        ],
    )
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    again = load_config(path)
    assert again == cfg
    assert again.train.lr == 3e-5
    assert again.data.clean.dedupe == "none"


def test_save_then_load_round_trips_defaults(tmp_path: Path) -> None:
    # The default mixed_precision 'no' must come back as the string, not YAML's False.
    path = tmp_path / "config.yaml"
    save_config(RunConfig(), path)
    assert load_config(path) == RunConfig()


def test_save_then_load_round_trips_warmup_steps(tmp_path: Path) -> None:
    cfg = load_config(None, ["train.warmup_steps=5"])
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg


def test_describe_fields_lists_every_leaf_with_help() -> None:
    rows = describe_fields(load_config(None, ["train.lr=3e-5"]))
    keys = [key for key, _, _ in rows]
    assert len(rows) >= 40
    assert len(keys) == len(set(keys))
    for key, _, help_text in rows:
        assert help_text.strip(), f"{key} has no help text"
    assert "data.clean.dedupe" in keys
    assert "data.clean" not in keys  # sections are expanded, not listed
    values = {key: value for key, value, _ in rows}
    assert values["train.lr"] == 3e-5
    assert values["data.clean.dedupe"] == "normalized"
    for section in ("data", "model", "train", "eval"):
        assert any(key.startswith(f"{section}.") for key in keys)
    assert {"name", "output_dir", "seed"} <= set(keys)


def test_describe_fields_covers_every_model_field() -> None:
    def leaves(model_cls: type, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, field in model_cls.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                out |= leaves(annotation, f"{prefix}{name}.")
            else:
                out.add(f"{prefix}{name}")
        return out

    keys = {key for key, _, _ in describe_fields(RunConfig())}
    assert keys == leaves(RunConfig)

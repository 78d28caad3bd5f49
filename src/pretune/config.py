"""The run config: one validated object per run, loadable from YAML, overridable as `a.b=value`.

Every field has a one-line description (`pretune config show <recipe>` prints them). Unknown keys
and bad values are errors that name the key and suggest the closest valid one; settings that
depend on each other are checked together and never silently changed.

Example:
    >>> cfg = load_config(None, ["train.lr=3e-5", "data.source=reviews.csv"])
    >>> cfg.train.lr
    3e-05
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pretune.errors import ConfigError

__all__ = [
    "CleanConfig",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "describe_fields",
    "load_config",
    "save_config",
]


class _Section(BaseModel):
    # forbid: a typo in a key must be an error, never a silently ignored setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CleanConfig(_Section):
    drop_empty: bool = Field(True, description="Drop rows whose text is missing or blank.")
    dedupe: Literal["none", "exact", "normalized"] = Field(
        "normalized", description="Drop duplicate texts: exact copies, or also after normalising."
    )
    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this many characters.")
    max_chars: int | None = Field(
        None, ge=1, description="Drop texts longer than this many characters (null: keep all)."
    )


class DataConfig(_Section):
    source: str = Field(
        "bbc",
        description="Built-in name (bbc, digits), a CSV/TSV/JSONL/Parquet/TXT file or a "
        "<label>/<file>.txt folder.",
    )
    text_column: str = Field("text", description="Column holding the input text.")
    label_column: str = Field("label", description="Column holding the class label.")
    encoding_errors: Literal["strict", "replace"] = Field(
        "strict", description="What to do with bytes that are not UTF-8: fail, or replace them."
    )
    validation_file: str | None = Field(
        None, description="A separate validation file (instead of carving it out of source)."
    )
    test_file: str | None = Field(
        None, description="A separate test file (instead of carving it out of source)."
    )
    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of rows held out for validation."
    )
    test_fraction: float = Field(0.1, ge=0, lt=1, description="Share of rows held out for test.")
    max_train_examples: int | None = Field(
        None, ge=1, description="Use only this many training rows (stratified), e.g. few labels."
    )
    balance: Literal["none", "oversample", "undersample"] = Field(
        "none", description="Resample the training split to equal class counts."
    )
    clean: CleanConfig = Field(default_factory=CleanConfig)

    @model_validator(mode="after")
    def _check_split(self) -> DataConfig:
        carved = (0 if self.validation_file else self.val_fraction) + (
            0 if self.test_file else self.test_fraction
        )
        if carved >= 1:
            raise ValueError(
                f"data.val_fraction + data.test_fraction = {carved:g} leaves no training rows; "
                "make their sum smaller than 1"
            )
        return self


class ModelConfig(_Section):
    init_from: str = Field(
        "minilm",
        description="Local Hugging Face checkpoint folder, a pretune run folder, or 'minilm' "
        "(the bundled all-MiniLM-L6-v2).",
    )
    max_length: int = Field(256, ge=8, description="Inputs are truncated to this many tokens.")
    freeze_embeddings: bool = Field(
        False, description="Keep the word-embedding matrix fixed (faster steps, fewer parameters)."
    )
    classifier_dropout: float | None = Field(
        None, ge=0, lt=1, description="Dropout before the classification head (null: model's own)."
    )
    hidden_dropout: float | None = Field(
        None, ge=0, lt=1, description="Dropout on hidden states in the encoder (null: model's own)."
    )
    # 0 by default: on CPU, dropout on the (B, heads, T, T) attention probabilities costs more
    # than the attention itself and keeps SDPA off its fused path (benchmarks/README.md).
    attention_dropout: float | None = Field(
        0.0, ge=0, lt=1,
        description="Dropout on attention probabilities (null: model's own; 0: none, fastest).",
    )  # fmt: skip
    init: Literal[
        "none", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"
    ] = Field("none", description="Re-initialise the new classification head (none: model's own).")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in backward: less memory, ~30% slower steps."
    )


class TrainConfig(_Section):
    epochs: float = Field(
        3.0, gt=0, description="Passes over the training split (fractions allowed, e.g. 0.5)."
    )
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides epochs)."
    )
    batch_size: int = Field(16, ge=1, description="Examples per forward pass.")
    grad_accum: int = Field(1, ge=1, description="Forward passes per optimizer step.")
    optimizer: str = Field("adamw", description="Optimizer name (see `pretune techniques`).")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(
        0.01, ge=0, description="Decoupled weight decay (never applied to biases and norms)."
    )
    schedule: str = Field(
        "linear",
        description="LR schedule after warmup: linear, cosine, constant, step, exponential, "
        "cosine_restarts, one_cycle.",
    )
    schedule_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Schedule parameters, e.g. {gamma: 0.5, step_size: 100} for step decay.",
    )
    optimizer_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra optimizer arguments, e.g. {momentum: 0.8, nesterov: false}.",
    )
    warmup_ratio: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Share of steps spent warming up (null: 0.1 unless warmup_steps).",
    )
    warmup_steps: int | None = Field(
        None, ge=0, description="Warm-up length in steps (instead of warmup_ratio)."
    )
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient norm to this (null: no clipping)."
    )
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Weight the loss by inverse class frequency."
    )
    loss: str = Field(
        "cross_entropy", description="Loss name, e.g. focal, symmetric_ce (`pretune techniques`)."
    )
    loss_params: dict[str, Any] = Field(
        default_factory=dict, description="Loss parameters, e.g. {gamma: 2.0} for focal."
    )
    group_by_length: bool = Field(
        True, description="Batch texts of similar length together to waste less on padding."
    )
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        "no", description="Autocast precision (bf16 works on CPU and recent GPUs)."
    )
    eval_every: int = Field(
        0, ge=0, description="Evaluate on validation every N steps (0: at each epoch end)."
    )
    checkpoint_every: int = Field(
        0, ge=0, description="Save a resumable checkpoint every N steps (0: at each epoch end)."
    )
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many evaluations without improvement."
    )
    log_every: int = Field(10, ge=1, description="Log loss and LR every N steps.")
    deterministic: bool = Field(
        True, description="Use deterministic kernels so runs and resumes repeat exactly."
    )
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for PyTorch (null: PyTorch's default)."
    )
    distributed: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="With several processes: ddp (a full model copy on each) or fsdp "
        "(parameters, gradients and optimizer state sharded; for models too big for one device).",
    )
    fsdp_reshard_after_forward: bool = Field(
        True,
        description="fsdp: free gathered parameters after forward (least memory); false keeps "
        "them until backward (less communication, ZeRO-2 like).",
    )
    fsdp_wrap: list[str] = Field(
        default_factory=list,
        description="fsdp: layer classes sharded as one unit each, e.g. [BertLayer] "
        "(empty: the model's own _no_split_modules).",
    )

    @model_validator(mode="after")
    def _check_params(self) -> TrainConfig:
        from pretune.train.optim import check_optimizer_params, check_schedule_params

        check_schedule_params(self.schedule, self.schedule_params)
        check_optimizer_params(self.optimizer, self.optimizer_params)
        return self

    @model_validator(mode="after")
    def _check_loss(self) -> TrainConfig:
        from pretune.tasks.losses import check_loss_params, loss_accepts_weight

        check_loss_params(self.loss, self.loss_params)
        if self.class_weights != "none" and not loss_accepts_weight(self.loss):
            raise ValueError(
                f"train.loss={self.loss} does not support class weights; set "
                "train.class_weights=none or pick a loss that does (e.g. cross_entropy, focal)"
            )
        return self

    @model_validator(mode="after")
    def _check_coupled(self) -> TrainConfig:
        if self.warmup_steps is not None and self.warmup_ratio is not None:
            raise ValueError(
                "train.warmup_steps and train.warmup_ratio are both set; set only one "
                "(the other must be null)"
            )
        return self

    def warmup_for(self, total_steps: int) -> int:
        """Warm-up length in steps for a run of `total_steps`."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return int((0.1 if self.warmup_ratio is None else self.warmup_ratio) * total_steps)

    @model_validator(mode="after")
    def _check_early_stopping(self) -> TrainConfig:
        if self.early_stopping_patience is not None and self.eval_every == 0 and self.epochs <= 1:
            raise ValueError(
                "train.early_stopping_patience needs several evaluations, but with "
                "eval_every=0 and one epoch there is only one; set train.eval_every"
            )
        return self


class EvalConfig(_Section):
    batch_size: int = Field(64, ge=1, description="Examples per forward pass when evaluating.")
    metric: str = Field(
        "accuracy", description="Validation metric that picks the best checkpoint (higher wins)."
    )


class RunConfig(_Section):
    name: str | None = Field(None, description="Run folder name (null: recipe-date-time).")
    output_dir: str = Field("runs", description="Folder that holds run folders.")
    seed: int = Field(0, description="Fixes data split and order, initialisation and dropout.")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    techniques: dict[str, Any] = Field(
        default_factory=dict,
        description="Techniques by name with their parameters, e.g. {ema: {decay: 0.999}} "
        "(`pretune techniques` lists them).",
    )

    @field_validator("techniques", mode="after")
    @classmethod
    def _check_techniques(cls, techniques: dict[str, Any]) -> dict[str, Any]:
        from pretune.techniques.registry import check_technique_params

        return {name: check_technique_params(name, params) for name, params in techniques.items()}

    @property
    def task_kind(self) -> str:
        """What this run trains (`techniques.base.TASK_KINDS`); recipe configs override it."""
        return "classify"

    @model_validator(mode="after")
    def _check_techniques_fit_task(self) -> RunConfig:
        from pretune.techniques.registry import check_techniques_fit_task

        check_techniques_fit_task(list(self.techniques), self.task_kind)
        return self

    @model_validator(mode="after")
    def _check_eval_metric(self) -> RunConfig:
        no_validation = self.data.val_fraction == 0 and not self.data.validation_file
        if self.train.early_stopping_patience and no_validation:
            raise ValueError(
                "train.early_stopping_patience needs a validation split, but "
                "data.val_fraction=0 and no data.validation_file is given"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Loading, overriding and describing


def _closest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _is_mapping_field(annotation: Any) -> bool:
    # A free-form mapping (e.g. `techniques: {name: {param: value}}`) takes any sub-keys; its
    # contents are validated by the section's own validator.
    return getattr(annotation, "__origin__", annotation) is dict


def _section_fields(model_cls: type[BaseModel], path: list[str]) -> type[BaseModel]:
    """Walk `path` through nested sections, raising ConfigError on an unknown key."""
    current = model_cls
    for depth, key in enumerate(path):
        fields = current.model_fields
        if key not in fields:
            where = ".".join(path[:depth]) or "the config"
            full = ".".join(path[: depth + 1])
            valid = [".".join([*path[:depth], name]) for name in fields]
            raise ConfigError(
                f"unknown config key '{full}'{_closest(full, valid)}; keys in {where}: "
                + ", ".join(fields)
            )
        annotation = fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        elif _is_mapping_field(annotation):
            return current
        elif depth < len(path) - 1:
            raise ConfigError(f"config key '{'.'.join(path[: depth + 1])}' has no sub-keys")
    return current


def _field_model(model_cls: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    current: type[BaseModel] = model_cls
    for key in path:
        annotation = current.model_fields[key].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _plain_list(raw: str) -> Any:
    """`[*emb*,layer.*]` is not YAML (`*` starts an alias), but it is plainly a list of
    patterns: split it on commas. Other unparsable values stay text."""
    text = raw.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return raw
    return [part.strip() for part in text[1:-1].split(",") if part.strip()]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (["a", "b"], value), with the value parsed as YAML (1e-4 -> float)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key=value (e.g. train.lr=3e-5)")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override '{item}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = _plain_list(raw)
    # YAML 1.1 reads '1e-4' as a string (no dot); users mean a number. It also reads yes/no/
    # on/off as booleans, which would turn `mixed_precision=no` into False: keep those as text
    # (pydantic still accepts them for boolean fields).
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        value = float(value)
    elif isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        value = raw.strip()
    return key.strip().split("."), value


def apply_overrides(
    data: dict[str, Any], overrides: list[str], schema: type[BaseModel] | None = None
) -> dict[str, Any]:
    """A copy of `data` with each `a.b=value` override set (keys checked against `schema`)."""
    merged = _deep_copy(data)
    for item in overrides:
        path, value = parse_override(item)
        _section_fields(schema or RunConfig, path)
        node = merged
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{key}' is a value, not a section")
        node[path[-1]] = value
    return merged


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def _format_validation_error(error: ValidationError, origin: str, schema: type[BaseModel]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'{_suggest_for_extra(item['loc'], schema)}")
        elif key:
            got = item.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"{key}: {message}{shown}")
        else:
            lines.append(message)
    return f"invalid config{origin}: " + "; ".join(lines)


def _suggest_for_extra(loc: tuple, schema: type[BaseModel]) -> str:
    path = [str(p) for p in loc]
    section = _field_model(schema, path[:-1]) if len(path) > 1 else schema
    if section is None:
        return ""
    valid = [".".join([*path[:-1], name]) for name in section.model_fields]
    return _closest(".".join(path), valid)


def load_config(
    path: str | Path | None,
    overrides: list[str] | None = None,
    defaults: dict[str, Any] | None = None,
    schema: type[RunConfig] | None = None,
) -> RunConfig:
    """Build a RunConfig from recipe defaults, then a YAML file, then `key=value` overrides.

    Args:
        path: YAML file or None.
        overrides: items like `train.lr=3e-5`, applied last.
        defaults: the recipe's own defaults (e.g. quickstart's), applied first.
        schema: the recipe's config class (RunConfig or a subclass with more sections).

    Raises:
        ConfigError: a missing/unreadable file, an unknown key or an invalid value.
    """
    data: dict[str, Any] = _deep_copy(defaults or {})
    origin = ""
    if path is not None:
        path = Path(path)
        origin = f" in {path}"
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of sections (data:, model:, train:)")
        data = _merge(data, loaded)
    schema = schema or _schema_for(data)
    data = apply_overrides(data, overrides or [], schema)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin, schema)) from None


def _schema_for(data: dict[str, Any]) -> type[RunConfig]:
    """RunConfig, or the recipe schema whose own sections (`distill:`, `pretrain:`) a run's
    config.yaml holds, so that any command reading a run's config (predict, evaluate,
    explain) accepts the runs of every recipe."""
    extra = set(data) - set(RunConfig.model_fields)
    if not extra:
        return RunConfig
    from pretune.recipes.catalog import RECIPES  # the catalog imports this module

    for spec in RECIPES.values():
        if spec.schema is not RunConfig and extra <= set(spec.schema.model_fields):
            return spec.schema
    return RunConfig


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def save_config(config: RunConfig, path: Path) -> None:
    """Write the fully resolved config (defaults included) as YAML."""
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "utf-8")


def describe_fields(config: BaseModel, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, current value, one-line help) for every leaf field, in declaration order."""
    rows: list[tuple[str, Any, str]] = []
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(describe_fields(value, prefix=f"{key}."))
        else:
            rows.append((key, value, field.description or ""))
    return rows

"""The config sections every kind of run is composed from, and the `Section` base.

A recipe's schema is composed (`compose.py`) from the sections it reads; a section that only
some recipes need (`pretrain:`, `reward:`) lives beside its recipe's catalog entry. Settings
checked against registries (optimizer, schedule and loss names, techniques) are checked by
the catalog, which sits above the layers that define them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CleanConfig",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "Section",
    "TrainConfig",
    "check_split",
    "check_trackers",
    "check_validation_for_early_stopping",
    "reads_recorded",
]

# Active read recorders (see `reads_recorded`): sets of (id(section), field name); copies of
# sections made while recording, by id, with their original (kept alive while recording).
_RECORDERS: list[set[tuple[int, str]]] = []
_COPIES: dict[int, tuple[Any, Any]] = {}


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked when assigned.

    Reading a field is recorded while `reads_recorded` is active, so that a test can check
    that a recipe reads every key its schema accepts.
    """

    # forbid: a typo in a key must be an error, never a silently ignored setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def __getattribute__(self, name: str) -> Any:
        if _RECORDERS and name in type(self).model_fields:
            _RECORDERS[-1].add((id(self), name))
        return super().__getattribute__(name)

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Any:
        copied = super().model_copy(update=update, deep=deep)
        if _RECORDERS:  # reads of the copy count as reads of this section's keys
            _COPIES[id(copied)] = (self, copied)
        return copied


def _section_paths(section: BaseModel, prefix: str = "") -> dict[int, str]:
    paths = {id(section): prefix}
    for name in type(section).model_fields:
        value = section.__dict__.get(name)
        if isinstance(value, BaseModel):
            paths.update(_section_paths(value, f"{prefix}{name}."))
    return paths


class reads_recorded:
    """`with reads_recorded(cfg) as reads: ...`; then `reads.keys()` is the set of dotted keys
    of `cfg` that were read inside the block (a section counts as read when any key of it is)."""

    def __init__(self, config: BaseModel) -> None:
        self.config = config
        self._seen: set[tuple[int, str]] = set()

    def __enter__(self) -> reads_recorded:
        _RECORDERS.append(self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        _RECORDERS.remove(self._seen)
        if not _RECORDERS:
            self._copies = dict(_COPIES)
            _COPIES.clear()

    def keys(self) -> set[str]:
        paths = _section_paths(self.config)
        copies = getattr(self, "_copies", _COPIES)
        for copy_id, (original, _) in copies.items():  # a copy's path is its original's
            if id(original) in paths:
                paths[copy_id] = paths[id(original)]
        return {paths[owner] + name for owner, name in self._seen if owner in paths}


class CleanConfig(Section):
    drop_empty: bool = Field(True, description="Drop rows whose text is missing or blank.")
    dedupe: Literal["none", "exact", "normalized"] = Field(
        "normalized", description="Drop duplicate texts: exact copies, or also after normalising."
    )
    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this many characters.")
    max_chars: int | None = Field(
        None, ge=1, description="Drop texts longer than this many characters (null: keep all)."
    )


class DataConfig(Section):
    source: str = Field(
        "bbc",
        description="Built-in name (bbc, digits), a CSV/TSV/JSONL/Parquet/TXT file, a "
        "<label>/<file>.txt folder, hf:<name>[:<config>] (in the local datasets cache) or a "
        "save_to_disk folder.",
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
        check_split(self)
        return self


def check_split(data: Any) -> None:
    """val_fraction + test_fraction must leave training rows (also for narrowed copies of
    DataConfig that lack some of these fields)."""
    val = 0 if getattr(data, "validation_file", None) else getattr(data, "val_fraction", 0)
    test = 0 if getattr(data, "test_file", None) else getattr(data, "test_fraction", 0)
    if val + test >= 1:
        raise ValueError(
            f"data.val_fraction + data.test_fraction = {val + test:g} leaves no training rows; "
            "make their sum smaller than 1"
        )


class ModelConfig(Section):
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


class TrainConfig(Section):
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
    keep_checkpoints_at_end: bool = Field(
        False,
        description="Keep the resumable checkpoints (checkpoints/step-N/, weights and optimizer "
        "state, and best/) once the run has finished; by default only model/ stays, and the "
        "best weights where they differ from it.",
    )
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
    report_to: list[str] = Field(
        default_factory=list,
        description="Experiment trackers (accelerate's): tensorboard, mlflow, wandb, ... "
        "(docs/trackers.md; tensorboard and mlflow write inside the run folder).",
    )

    @model_validator(mode="after")
    def _check_trackers(self) -> TrainConfig:
        check_trackers(getattr(self, "report_to", []))
        return self

    @model_validator(mode="after")
    def _check_coupled(self) -> TrainConfig:
        if (
            getattr(self, "warmup_steps", None) is not None
            and getattr(self, "warmup_ratio", None) is not None
        ):
            raise ValueError(
                "train.warmup_steps and train.warmup_ratio are both set; set only one "
                "(the other must be null)"
            )
        return self

    @model_validator(mode="after")
    def _check_early_stopping(self) -> TrainConfig:
        patience = getattr(self, "early_stopping_patience", None)
        if patience is not None and self.eval_every == 0 and self.epochs <= 1:
            raise ValueError(
                "train.early_stopping_patience needs several evaluations, but with "
                "eval_every=0 and one epoch there is only one; set train.eval_every"
            )
        return self


class EvalConfig(Section):
    batch_size: int = Field(64, ge=1, description="Examples per forward pass when evaluating.")
    metric: str = Field(
        "accuracy",
        description="Validation metric that picks the best weights and drives early stopping "
        "(loss, perplexity: lower wins; the others: higher).",
    )


# accelerate's tracker names (accelerate.tracking.LOGGER_TYPE_TO_CLASS), each with the package
# accelerate needs for it; listed here so that checking a config never imports accelerate.
TRACKERS = ("tensorboard", "mlflow", "wandb", "comet_ml", "aim", "clearml", "dvclive",
            "swanlab", "trackio")  # fmt: skip


def check_trackers(names: list[str]) -> None:
    """Each `train.report_to` name is an accelerate tracker whose package is installed."""
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        raise ValueError(
            f"train.report_to: unknown tracker {', '.join(unknown)}; choose from "
            + ", ".join(TRACKERS)
        )
    if not names:
        return
    from accelerate.utils import imports

    missing = [name for name in names if not getattr(imports, f"is_{name}_available")()]
    if missing:
        raise ValueError(
            f"train.report_to: {', '.join(missing)} is not installed; install it with "
            "`pip install 'pretune[trackers]'` (tensorboard, mlflow) or its own package"
        )


def check_validation_for_early_stopping(cfg: Any) -> None:
    """Early stopping watches the validation metric: a run without validation cannot stop."""
    data = cfg.data
    no_validation = getattr(data, "val_fraction", 0) == 0 and not getattr(
        data, "validation_file", None
    )
    if getattr(cfg.train, "early_stopping_patience", None) and no_validation:
        raise ValueError(
            "train.early_stopping_patience needs a validation split, but "
            "data.val_fraction=0 and no data.validation_file is given"
        )

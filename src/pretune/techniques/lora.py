"""LoRA through `peft`: train small low-rank adapters beside frozen weights, merge them on save.

Only the adapters (rank `r` matrices in the attention projections) and the classification
head train, typically < 2% of the parameters: faster steps, less optimizer memory, and
checkpoints that are mostly the frozen base. At the end the adapters are merged into the
weights (`merge_and_unload`), so `model/` is a plain Hugging Face model that loads with
`AutoModelForSequenceClassification` and no `peft`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pretune.errors import ConfigError
from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["LoRA", "wrap_with_lora"]

# The task head, trained in full beside the adapters: BERT-likes `classifier` (and `pooler`,
# new when the checkpoint was saved without one), GPT-likes `score`, QA models `qa_outputs`.
HEAD_MODULES = ("classifier", "score", "pooler", "qa_outputs")


# Attention query/value projections under the names architectures give them, for models
# peft has no default for (ViT in transformers 5: q_proj, v_proj).
_ATTENTION_TARGETS = (["query", "value"], ["q_proj", "v_proj"], ["q_lin", "v_lin"], ["c_attn"])


def default_lora_targets(model: torch.nn.Module) -> list[str]:
    """peft's usual adapter targets for the architecture (GPT-2: c_attn), else the first
    query/value naming the model has (BERT's names when none matches, for a clear error)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        return list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return next((t for t in _ATTENTION_TARGETS if set(t) <= names), ["query", "value"])


def wrap_with_lora(
    model: torch.nn.Module,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: list[str],
    train_modules: list[str],
) -> torch.nn.Module:
    """`model` wrapped by `peft` with LoRA adapters on `target_modules`; `train_modules` (the
    head) stay fully trainable. Everything else is frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in target_modules if t not in names]
    if missing:
        raise ConfigError(
            f"techniques.lora.target_modules: {missing} not found in the model; its linear "
            "layers include " + ", ".join(sorted(n for n in _linear_names(model))[:12])
        )
    # SEQ_CLS gives sequence classifiers peft's own head handling; others get the plain wrapper.
    is_classifier = type(model).__name__.endswith("ForSequenceClassification")
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS if is_classifier else None,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        # GPT-2's Conv1D stores weights transposed (in, out); peft must be told.
        fan_in_fan_out=any(
            type(module).__name__ == "Conv1D" and name.rsplit(".", 1)[-1] in target_modules
            for name, module in model.named_modules()
        ),
        modules_to_save=[m for m in train_modules if m in names] or None,
    )
    return get_peft_model(model, config)


def _linear_names(model: torch.nn.Module) -> set[str]:
    import torch

    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


@TECHNIQUES.register("lora", "low-rank adapters (peft), merged into the weights on save")
class LoRA(Technique):
    """Args:
    r: adapter rank (4-16 is usual; higher = more capacity, more parameters).
    alpha: scaling; the update is multiplied by alpha / r (keep alpha = 2r as a start).
    dropout: dropout on the adapter input.
    target_modules: names of the linear layers that get adapters (default: peft's usual
        choice for the architecture, e.g. BERT-likes query, value; GPT-2 c_attn; add key,
        dense for more capacity).
    """

    name = "lora"
    freezes_params = True
    export_last = True  # merging replaces modules; other techniques export before it

    def __init__(
        self,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.1,
        target_modules: list[str] | None = None,
    ) -> None:
        if r < 1:
            raise ValueError(f"r must be >= 1, got {r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.target_modules = list(target_modules) if target_modules else None

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        targets = self.target_modules or default_lora_targets(model)
        return wrap_with_lora(model, self.r, self.alpha, self.dropout, targets, list(HEAD_MODULES))

    def export_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The base model with the adapters merged in (a plain transformers model)."""
        if hasattr(model, "merge_and_unload"):
            return model.merge_and_unload()
        return model

    def __repr__(self) -> str:
        return f"LoRA(r={self.r}, alpha={self.alpha}, target_modules={self.target_modules})"

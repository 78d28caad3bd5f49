"""Knowledge distillation: a student learns from a teacher's soft labels (Hinton et al. 2015).

The loss of a training batch is

    alpha * T² * KL(softmax(teacher / T) || softmax(student / T))  +  (1 - alpha) * hard loss
    + hidden_weight * mean over matched layers of MSE(proj(student hidden), teacher hidden)

where the hard loss is the wrapped task's own loss (cross-entropy, or whatever `train.loss`
configures). T² keeps the soft term's gradients on the scale of the hard term's as T grows
(the soft gradients shrink as 1/T²). alpha=0 is plain training; the teacher is then not run.

Teacher logits come either from a teacher forward pass on every batch ("on the fly") or from a
table computed once before training (`teacher_logits_for`; both it and the batches below live
in `teacher_cache.py`). The loop feeds batches of row indices (`TrainData.load(indices)`), so a
cached logit is matched to its example by row index: `CachedTeacherBatches.load` adds the
rows' cached logits to the batch as `teacher_logits`, and the distillation task takes them
from there (and strips the key before the model sees it).

Intermediate-layer matching (TinyBERT/MiniLM-style, here on hidden states only): student layer
i (of Ls) is matched with teacher layer round((i + 1) * Lt / Ls), so a 3-layer student of a
6-layer teacher matches teacher layers 2, 4 and 6 (1-based; the embeddings are layer 0); when
the widths differ, a learned linear projection per matched layer maps the student's states to
the teacher's width. The projections are trained with the student and saved in checkpoints,
never in `model/`.

`Distill` is registered as `techniques.distill`, so any classification run can distil:

    techniques:
      distill: {teacher: runs/teacher, temperature: 2.0, alpha: 0.5, hidden_weight: 0.0}

loads the teacher from the folder and runs it on the fly. The `distill` recipe builds it from a
teacher it has already loaded (`Distill.from_model`), and can cache the teacher's logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pretune.errors import ConfigError
from pretune.models.teacher import load_teacher_classifier
from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.wrapping import TaskWrapper

if TYPE_CHECKING:
    import torch

    from pretune.data.encode import EncodedSplit

__all__ = [
    "Distill",
    "encoder_layers",
    "hidden_mse",
    "kd_loss",
    "layer_map",
    "soft_loss",
]

# Defined in `teacher_cache.py` (it imports torch and the data libraries) and still importable
# from here, loaded on first use, so that importing this module to check a config stays light.
_FROM_TEACHER_CACHE = ("TEACHER_KEY", "CachedTeacherBatches", "teacher_logits_for")


def __getattr__(name: str) -> Any:
    if name in _FROM_TEACHER_CACHE:
        import pretune.techniques.teacher_cache as teacher_cache

        return getattr(teacher_cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def soft_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) || softmax(student/T)), averaged over the batch; (B, K) each."""
    import torch.nn.functional as F

    log_p_student = F.log_softmax(student.float() / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher.float() / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return kl * temperature**2


def kd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    hard: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """alpha · soft_loss + (1 - alpha) · hard, where `hard` is the task's loss on the labels."""
    if alpha == 0:
        return hard
    return alpha * soft_loss(student, teacher, temperature) + (1 - alpha) * hard


def hidden_mse(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor | None,
    projection: torch.nn.Module | None = None,
) -> torch.Tensor:
    """Mean squared error between hidden states (B, T, Hs) -> (B, T, Ht), over real tokens.

    Padding positions (mask 0) are left out, so a batch's padding does not pull the states.
    """
    if projection is not None:
        student = projection(student)
    squared = (student.float() - teacher.float()).pow(2).mean(-1)  # (B, T)
    if mask is None:
        return squared.mean()
    weights = mask.to(squared.dtype)
    return (squared * weights).sum() / weights.sum().clamp(min=1.0)


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """For each student layer, the teacher hidden-state index it is matched with (0 = the
    embeddings, i = the output of layer i), spread evenly and ending at the last layer."""
    if student_layers < 1 or teacher_layers < 1:
        raise ValueError("layer counts must be >= 1")
    return [round((i + 1) * teacher_layers / student_layers) for i in range(student_layers)]


def encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer blocks of a Hugging Face encoder (BERT-like, DistilBERT, others): the
    ModuleList with `config.num_hidden_layers` entries."""
    import torch

    model = getattr(model, "module", model)
    count = getattr(model.config, "num_hidden_layers", None)
    for name in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        module: Any = getattr(model, "base_model", model)
        for part in name.split("."):
            module = getattr(module, part, None)
        if isinstance(module, torch.nn.ModuleList) and (count is None or len(module) == count):
            return module
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ConfigError(
        f"cannot find the transformer layers of {type(model).__name__}; intermediate-layer "
        "matching supports BERT-like encoders (set distill.hidden_weight=0)"
    )


class _LayerRecorder:
    """Forward hooks on the student's layers that keep their outputs while `on` is set."""

    def __init__(self, layers: torch.nn.ModuleList) -> None:
        self.on = False
        self.outputs: list[torch.Tensor] = []
        self.handles = [layer.register_forward_hook(self._hook) for layer in layers]

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        if self.on:
            self.outputs.append(output[0] if isinstance(output, tuple) else output)

    def take(self) -> list[torch.Tensor]:
        outputs, self.outputs = self.outputs, []
        return outputs


class _DistillTask(TaskWrapper):
    """Runs the inner task on the batch and adds the teacher terms to its loss."""

    def __init__(self, inner: Any, technique: Distill) -> None:
        super().__init__(inner)
        self.technique = technique

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from pretune.techniques.teacher_cache import TEACHER_KEY

        if TEACHER_KEY in batch and ("labels" not in batch or not self.inner.model.training):
            batch = {k: v for k, v in batch.items() if k != TEACHER_KEY}
        return super().__call__(batch)

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        import torch

        from pretune.techniques.teacher_cache import TEACHER_KEY

        d = self.technique
        cached = batch.get(TEACHER_KEY)
        inputs = {k: v for k, v in batch.items() if k != TEACHER_KEY}
        hidden = d.hidden_weight > 0
        if d.recorder is not None:
            d.recorder.on = hidden
        try:
            out = self.inner(inputs)
        finally:
            if d.recorder is not None:
                d.recorder.on = False
        student_hidden = d.recorder.take() if d.recorder is not None else []
        if d.alpha == 0 and not hidden:
            return out  # plain training: the teacher is not needed
        teacher_logits, teacher_hidden = d.teacher_outputs(inputs, cached, hidden)
        loss = kd_loss(out["logits"], teacher_logits, out["loss"], d.temperature, d.alpha)
        result = dict(out)
        if hidden:
            mask = inputs.get("attention_mask")
            terms = [
                hidden_mse(s, teacher_hidden[t], mask, d.projections[i])
                for i, (s, t) in enumerate(zip(student_hidden, d.matched, strict=True))
            ]
            result["hidden_loss"] = torch.stack(terms).mean()
            loss = loss + d.hidden_weight * result["hidden_loss"]
        result["loss"] = loss
        return result


@TECHNIQUES.register("distill", "learn from a fine-tuned teacher's soft labels and hidden states")
class Distill(Technique):
    """Train the student against a frozen teacher (see the module docstring for the loss).

    Args:
        teacher: a finished `pretune finetune` run folder or a classifier checkpoint folder
            (loaded here), or an already loaded `*ForSequenceClassification` model (frozen and
            put in eval mode here; then give `teacher_labels`, or use `Distill.from_model`).
        teacher_labels: a loaded teacher's class names in its logit order (a folder's come
            from its config).
        temperature: softens both distributions (> 0; 1-4 is usual).
        alpha: weight of the soft loss, in [0, 1]; 1 - alpha weighs the task's hard loss.
        hidden_weight: weight of intermediate-layer matching (0: off).
    """

    name = "distill"
    changes_loss = True
    needs_teacher = True
    tasks = frozenset({"classify"})  # soft labels over one set of classes per example
    cheap_to_build = False  # loads the teacher

    def __init__(
        self,
        teacher: str | torch.nn.Module,
        teacher_labels: Sequence[str] | None = None,
        temperature: float = 2.0,
        alpha: float = 0.5,
        hidden_weight: float = 0.0,
    ) -> None:
        import torch

        if not temperature > 0:
            raise ConfigError(f"distill.temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ConfigError(f"distill.alpha must be in [0, 1], got {alpha}")
        if hidden_weight < 0:
            raise ConfigError(f"distill.hidden_weight must be >= 0, got {hidden_weight}")
        if not isinstance(teacher, torch.nn.Module):
            if teacher_labels is not None:
                raise ConfigError(
                    "techniques.distill.teacher_labels is only for a loaded teacher; a teacher "
                    "folder's labels come from its config: remove teacher_labels"
                )
            _, teacher, teacher_labels = load_teacher_classifier(
                teacher, "techniques.distill.teacher"
            )
        elif teacher_labels is None:
            raise ConfigError("a loaded teacher model needs its teacher_labels (logit order)")
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_labels = list(teacher_labels)
        self.temperature, self.alpha, self.hidden_weight = temperature, alpha, hidden_weight
        self.order: torch.Tensor | None = None  # teacher logit column of each student label
        self.recorder: _LayerRecorder | None = None
        self.projections = torch.nn.ModuleList()
        self.matched: list[int] = []

    @classmethod
    def from_model(
        cls,
        teacher: torch.nn.Module,
        teacher_labels: Sequence[str],
        temperature: float = 2.0,
        alpha: float = 0.5,
        hidden_weight: float = 0.0,
    ) -> Distill:
        """Distillation from a teacher already in memory (the `distill` recipe's way)."""
        return cls(teacher, teacher_labels, temperature, alpha, hidden_weight)

    # -- set-up hooks ---------------------------------------------------------------------

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        t_vocab = getattr(self.teacher.config, "vocab_size", None)
        s_vocab = getattr(model.config, "vocab_size", None)
        if t_vocab != s_vocab:
            raise ConfigError(
                f"the teacher has {t_vocab} token embeddings and the student {s_vocab}: they do "
                "not share a tokenizer; pick a student with the teacher's vocabulary"
            )
        if self.hidden_weight > 0:
            layers = encoder_layers(model)
            teacher_layers = len(encoder_layers(self.teacher))
            self.matched = layer_map(len(layers), teacher_layers)
            self.recorder = _LayerRecorder(layers)
            s_width, t_width = model.config.hidden_size, self.teacher.config.hidden_size
            self.projections = torch.nn.ModuleList(
                torch.nn.Linear(s_width, t_width) if s_width != t_width else torch.nn.Identity()
                for _ in layers
            )
        return model

    def param_groups(
        self, groups: list[dict[str, Any]], model: torch.nn.Module
    ) -> list[dict[str, Any]]:
        params = [p for p in self.projections.parameters() if p.requires_grad]
        return groups + ([{"params": params, "weight_decay": 0.0}] if params else [])

    def wrap_task(self, task: Any) -> Any:
        import torch

        labels = list(getattr(task, "label_names", self.teacher_labels))
        if sorted(labels) != sorted(self.teacher_labels):
            raise ConfigError(
                f"the teacher's labels ({', '.join(self.teacher_labels)}) differ from the "
                f"data's ({', '.join(labels)}); distill on data with the teacher's label set"
            )
        self.order = torch.tensor([self.teacher_labels.index(name) for name in labels])
        return _DistillTask(task, self)

    def state_dict(self) -> dict[str, Any]:
        return {"projections": self.projections.state_dict()} if len(self.projections) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "projections" in state:
            self.projections.load_state_dict(state["projections"])

    # -- the teacher ----------------------------------------------------------------------

    def teacher_outputs(
        self,
        inputs: dict[str, torch.Tensor],
        cached: torch.Tensor | None,
        hidden: bool,
    ) -> tuple[torch.Tensor, Sequence[torch.Tensor]]:
        """Teacher logits (B, K) in the student's label order, and its hidden states (or ())."""
        import torch

        device = inputs["input_ids"].device
        states: Sequence[torch.Tensor] = ()
        if cached is None or hidden:
            if next(self.teacher.parameters()).device != device:
                self.teacher.to(device)
                self.projections.to(device)
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            with torch.no_grad():
                output = self.teacher(**model_inputs, output_hidden_states=hidden)
            logits = output.logits if cached is None else cached
            states = output.hidden_states if hidden else ()
        else:
            logits = cached
        assert self.order is not None  # set by wrap_task
        return logits.to(device)[:, self.order.to(device)], states

    def cache_logits(self, split: EncodedSplit, batch_size: int) -> torch.Tensor:
        """Teacher logits for every row of `split` (row order), computed once."""
        from pretune.techniques.teacher_cache import teacher_logits_for

        device = next(self.teacher.parameters()).device
        return teacher_logits_for(self.teacher, split, batch_size, device)

    def __repr__(self) -> str:
        return (
            f"Distill(temperature={self.temperature}, alpha={self.alpha}, "
            f"hidden_weight={self.hidden_weight})"
        )

"""Load a fine-tuned classifier to teach another model (distillation).

A teacher is a finished `pretune finetune` run folder (its `model/` is used) or a Hugging Face
sequence-classification checkpoint folder; its label names come from its `id2label`, in logit
order, so the student's labels can be matched to its logits by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pretune.errors import ConfigError
from pretune.models.damage import named_damage
from pretune.models.load import quiet_transformers

__all__ = ["load_teacher_classifier", "teacher_model_dir"]


def teacher_model_dir(teacher: str | Path | None, setting: str) -> Path:
    """The checkpoint folder of `teacher` (a run folder's `model/`, or the folder itself).

    `setting` names the config key in errors (`distill.teacher`, `techniques.distill.teacher`).
    """
    if not teacher:
        raise ConfigError(f"{setting} is not set: give {setting}=runs/<a finetune run>")
    path = Path(teacher).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"{setting}={teacher}: no such folder; give a finished `pretune finetune` run "
            "folder (runs/<name>) or a classifier checkpoint folder"
        )
    model_dir = path / "model" if (path / "model" / "config.json").is_file() else path
    if not (model_dir / "config.json").is_file():
        raise ConfigError(
            f"{setting}={teacher} is not a classifier run: it has no model/config.json "
            "(did the run finish?)"
        )
    return model_dir


@quiet_transformers()
def load_teacher_classifier(
    teacher: str | Path | None, setting: str = "distill.teacher"
) -> tuple[Path, Any, list[str]]:
    """(model folder, model in eval mode, label names in logit order) of a classifier.

    Raises:
        ConfigError: no teacher given, the folder does not exist, or it is not a classifier.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = teacher_model_dir(teacher, setting)
    with named_damage(model_dir):
        config = AutoConfig.from_pretrained(str(model_dir))
    architectures = getattr(config, "architectures", None) or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ConfigError(
            f"{setting}={teacher} is not a classifier run (its model is "
            f"{', '.join(architectures) or config.model_type}); give a `pretune finetune` run"
        )
    with named_damage(model_dir):  # a damaged label map or weights file is named
        labels = [config.id2label[i] for i in range(config.num_labels)]
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), attn_implementation="sdpa"
        )
    return model_dir, model.eval(), labels

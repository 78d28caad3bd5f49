"""Recipe: distil a fine-tuned classifier (the teacher) into a smaller student.

    load teacher  ->  prepare_data / encode_splits (finetune's)  ->  build the student
    ->  [cache teacher logits]  ->  fit (the one loop; the Distill technique owns the loss)
    ->  test  ->  compare student vs teacher (accuracy, size, speed)  ->  save

The teacher and the student share the teacher's tokenizer: a student checkpoint with another
vocabulary is refused (with both paths named), since the on-the-fly teacher reads the
student's token ids. Student specs (`distill.student`):

    teacher:layers=3        3 of the teacher's layers, evenly spaced and ending with the last
                            (for 6 layers: 1, 3, 5, 0-based), with its embeddings and head
    teacher:layers=0,2,4    exactly these layers (0-based)
    minilm:layers=3         the same cut from another checkpoint (bundled name, folder, run)
    path/to/checkpoint      a local Hugging Face checkpoint folder (or a run folder) as is
    tiny | mini | small     a preset BERT from scratch with the teacher's vocabulary
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model as save_safetensors

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit, TrainBatches
from pretune.data.text_classification import encode_splits, prepare_data, report_data
from pretune.errors import ConfigError, DataError
from pretune.evaluate.analysis import classifier_summary
from pretune.evaluate.efficiency import count_parameters
from pretune.evaluate.evaluator import split_evaluator
from pretune.models.damage import read_yaml_file
from pretune.models.load import load_tokenizer, quiet_transformers, resolve_model_path
from pretune.models.presets import PRESETS, lm_config
from pretune.models.settings import build_classifier
from pretune.models.teacher import load_teacher_classifier
from pretune.recipes._runner import recipe
from pretune.tasks.classify import classify_task_factory
from pretune.techniques.distill import CachedTeacherBatches, Distill, encoder_layers
from pretune.train.session import Session

__all__ = [
    "build_student",
    "load_teacher",
    "parse_student_spec",
    "pick_layers",
    "run_distill",
]


# -- the teacher ------------------------------------------------------------------------------


def load_teacher(teacher: str | None) -> tuple[Path, Any, list[str]]:
    """(model folder, model in eval mode, label names in logit order) of a classifier run.

    Raises:
        ConfigError: no teacher given, the folder does not exist, or it is not a classifier.
    """
    if not teacher:
        raise ConfigError("distill.teacher is not set: give teacher=runs/<a finetune run>")
    return load_teacher_classifier(teacher, "distill.teacher")


def _check_same_split(cfg: Any, teacher: str, log: Any) -> None:
    """Warn when the student's data or seed differ from the teacher run's: the teacher may
    then have trained on the student's test rows, and the comparison is not fair."""
    path = Path(teacher) / "config.yaml"
    if not path.is_file():
        return
    saved = read_yaml_file(path)  # a damaged one is named, not a YAML traceback
    ours = cfg.model_dump(mode="json")
    keys = ("source", "val_fraction", "test_fraction", "validation_file", "test_file")
    differs = [f"data.{k}" for k in keys if (saved.get("data") or {}).get(k) != ours["data"][k]]
    if saved.get("seed") != cfg.seed:
        differs.append("seed")
    if differs:
        log(
            f"warning: {', '.join(differs)} differ from the teacher's run ({path}); the teacher "
            "may have trained on this test split, so student vs teacher is not a fair comparison"
        )


# -- the student ------------------------------------------------------------------------------


def parse_student_spec(spec: str) -> tuple[str, str | None]:
    """`'teacher:layers=3'` -> ('teacher', '3'); `'runs/x'` -> ('runs/x', None)."""
    source, sep, rest = spec.partition(":layers=")
    if not sep:
        return spec, None
    if not source or not rest:
        raise ConfigError(
            f"distill.student={spec}: expected <model>:layers=<N or i,j,k>, e.g. teacher:layers=3"
        )
    return source, rest


def pick_layers(total: int, layers: str, spec: str = "") -> list[int]:
    """The 0-based layers to keep of `total`: a count N (evenly spaced, ending with the last
    layer) or an explicit comma list of indices."""
    try:
        values = [int(v) for v in layers.split(",") if v.strip()]
    except ValueError:
        values = []
    where = f"distill.student={spec}" if spec else f"layers={layers}"
    if not values:
        raise ConfigError(f"{where}: layers must be a count or a list of indices, e.g. 3 or 0,2,4")
    if "," not in layers:  # a count
        count = values[0]
        if not 1 <= count <= total:
            raise ConfigError(f"{where}: the model has {total} layers; keep between 1 and {total}")
        return [round((i + 1) * total / count) - 1 for i in range(count)]
    if sorted(set(values)) != values or values[0] < 0 or values[-1] >= total:
        raise ConfigError(
            f"{where}: layer indices must be increasing, distinct and within 0..{total - 1}"
        )
    return values


def _cut_layers(model: Any, keep: list[int]) -> None:
    """Keep only the encoder layers `keep` (in place), and say so in the model's config."""
    layers = encoder_layers(model)
    parent_name = next(name for name, module in model.named_modules() if module is layers)
    parent = model.get_submodule(parent_name.rsplit(".", 1)[0]) if "." in parent_name else model
    setattr(parent, parent_name.rsplit(".", 1)[-1], torch.nn.ModuleList(layers[i] for i in keep))
    model.config.num_hidden_layers = len(keep)


def _check_vocabulary(student_path: Path, tokenizer: Any, teacher_dir: Path) -> None:
    has_tokenizer = any((student_path / f).is_file() for f in ("tokenizer.json", "vocab.txt"))
    if not has_tokenizer:
        return  # the technique still checks the embedding count
    if load_tokenizer(student_path).get_vocab() != tokenizer.get_vocab():
        raise ConfigError(
            f"the student ({student_path}) and the teacher ({teacher_dir}) use different "
            "tokenizers; distillation here needs a shared vocabulary: pick a student built "
            "from the teacher's tokenizer (e.g. student=teacher:layers=3)"
        )


def build_student(
    spec: str, teacher_dir: Path, tokenizer: Any, max_length: int, workdir: Path
) -> Path:
    """A Hugging Face checkpoint folder for the student described by `spec` (see the module
    docstring); cut or built students are written under `workdir`."""
    from transformers import AutoModelForSequenceClassification

    source, layers = parse_student_spec(spec)
    if source in PRESETS.names():
        if layers is not None:
            raise ConfigError(f"distill.student={spec}: a preset sets its own layers")
        config = lm_config(source, "mlm", tokenizer, max_length)
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        path = teacher_dir if source == "teacher" else resolve_model_path(source)
        if source != "teacher":
            _check_vocabulary(path, tokenizer, teacher_dir)
        if layers is None:
            return path
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(str(path))
        _cut_layers(model, pick_layers(model.config.num_hidden_layers, layers, spec))
    # Every process builds its own student folder: transformers' save_pretrained writes only on
    # rank 0 once a process group exists, so the weights and config are written directly.
    model.config.save_pretrained(str(workdir))
    save_safetensors(model, str(workdir / "model.safetensors"))
    tokenizer.save_pretrained(str(workdir))
    return workdir


# -- student vs teacher -----------------------------------------------------------------------


def _folder_mb(path: Path) -> float:
    files = [*path.glob("*.safetensors"), *path.glob("*.bin")]
    return round(sum(f.stat().st_size for f in files) / 2**20, 2)


def _predictions(model: Any, split: EncodedSplit, batch_size: int, order: Any) -> torch.Tensor:
    model.eval()
    out = torch.empty(len(split), dtype=torch.long)
    device = next(model.parameters()).device
    for indices in inference_batches(split.lengths, batch_size):
        batch = split.load(indices)
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            logits = model(**inputs).logits
        if order is not None:
            logits = logits[:, order]
        out[torch.tensor(indices)] = logits.argmax(-1).cpu()
    return out


def _examples_per_s(model: Any, split: EncodedSplit, rows: int, batch_size: int) -> float:
    indices = list(range(min(rows, len(split))))
    batches = [
        [indices[i] for i in b]
        for b in inference_batches([split.lengths[i] for i in indices], batch_size)
    ]
    device = next(model.parameters()).device
    loaded = [{k: v.to(device) for k, v in split.load(b).items() if k != "labels"} for b in batches]
    start = time.perf_counter()
    with torch.inference_mode():
        for inputs in loaded:
            model(**inputs)
    return len(indices) / max(time.perf_counter() - start, 1e-9)


def inference_speed(
    student: Any, teacher: Any, split: EncodedSplit, rows: int, repeats: int, batch_size: int
) -> dict[str, float]:
    """Examples/s of both models on the same rows, alternating rounds (median of `repeats`),
    so that a busy machine slows both alike and the ratio stays meaningful."""
    student.eval()
    teacher.eval()
    _examples_per_s(student, split, min(rows, batch_size), batch_size)  # warm-up
    _examples_per_s(teacher, split, min(rows, batch_size), batch_size)
    s_rates, t_rates = [], []
    for _ in range(repeats):
        s_rates.append(_examples_per_s(student, split, rows, batch_size))
        t_rates.append(_examples_per_s(teacher, split, rows, batch_size))
    s, t = statistics.median(s_rates), statistics.median(t_rates)
    return {
        "student_examples_per_s": round(s, 2),
        "teacher_examples_per_s": round(t, 2),
        "speedup": round(s / max(t, 1e-9), 3),
        "rows": min(rows, len(split)),
        "batch_size": batch_size,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
    }


def compare_with_teacher(
    cfg: Any,
    student: Any,
    distill: Distill,
    split: EncodedSplit,
    student_dir: Path,
    teacher_dir: Path,
) -> dict[str, Any]:
    """Student vs teacher on `split` (the test split): accuracy, agreement, size and speed."""
    labels = torch.tensor(split.labels or [])
    s_pred = _predictions(student, split, cfg.eval.batch_size, None)
    t_pred = _predictions(distill.teacher, split, cfg.eval.batch_size, distill.order)
    s_acc = float((s_pred == labels).float().mean())
    t_acc = float((t_pred == labels).float().mean())
    s_params, t_params = count_parameters(student)[0], count_parameters(distill.teacher)[0]
    s_mb, t_mb = _folder_mb(student_dir), _folder_mb(teacher_dir)
    d = cfg.distill
    return {
        "teacher": d.teacher,
        "student": d.student,
        "temperature": d.temperature,
        "alpha": d.alpha,
        "hidden_weight": d.hidden_weight,
        "cache_teacher": d.cache_teacher,
        "layers": {
            "student": student.config.num_hidden_layers,
            "teacher": distill.teacher.config.num_hidden_layers,
        },
        "test": {
            "student_accuracy": round(s_acc, 4),
            "teacher_accuracy": round(t_acc, 4),
            "retained": round(s_acc / max(t_acc, 1e-9), 4),
            "agreement": round(float((s_pred == t_pred).float().mean()), 4),
            "count": len(split),
        },
        "parameters": {
            "student": s_params,
            "teacher": t_params,
            "ratio": round(s_params / t_params, 4),
        },
        "disk_mb": {"student": s_mb, "teacher": t_mb, "ratio": round(s_mb / max(t_mb, 1e-9), 4)},
        "speed": inference_speed(
            student, distill.teacher, split, d.speed_rows, d.speed_repeats, cfg.eval.batch_size
        ),
    }


# -- the recipe -------------------------------------------------------------------------------


def _check_labels(cfg: Any, teacher: str, teacher_labels: list[str], labels: list[str]) -> None:
    if sorted(labels) != sorted(teacher_labels):
        raise DataError(
            f"the teacher ({teacher}) knows labels {', '.join(teacher_labels)} but "
            f"data.source={cfg.data.source} has {', '.join(labels)}; distil on data "
            "with the teacher's label set"
        )


def _student(cfg: Any, teacher_dir: Path, tokenizer: Any, labels: list[str]) -> Any:
    with tempfile.TemporaryDirectory(prefix="pretune-student-") as workdir:
        student_path = build_student(
            cfg.distill.student, teacher_dir, tokenizer, cfg.model.max_length, Path(workdir)
        )
        student = build_classifier(cfg.model, student_path, labels)
    # The student is built in a folder deleted now; it shares the teacher's tokenizer, which
    # techniques that re-tokenise text (augment) find through the model's origin.
    student.name_or_path = student.config._name_or_path = str(teacher_dir)
    return student


@recipe("distill")
def run_distill(cfg: Any, session: Session) -> dict[str, Any]:
    """Distil `distill.teacher` into `distill.student`; returns the summary (with a
    `distillation` section: student vs teacher)."""
    d = cfg.distill
    teacher_dir, teacher, teacher_labels = load_teacher(d.teacher)
    _check_same_split(cfg, str(d.teacher), session.log)
    data = prepare_data(cfg.data, cfg.seed)
    _check_labels(cfg, str(d.teacher), teacher_labels, data.label_names)
    tokenizer = load_tokenizer(teacher_dir)
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    report_data(data, encoded, cfg.model.max_length, session.log)
    distill = Distill(teacher, teacher_labels, d.temperature, d.alpha, d.hidden_weight)
    model = _student(cfg, teacher_dir, tokenizer, data.label_names)
    session.log(
        f"student {d.student}: {model.config.num_hidden_layers} layers, "
        f"{count_parameters(model)[0] / 1e6:.1f}M parameters; teacher "
        f"{teacher.config.num_hidden_layers} layers, {count_parameters(teacher)[0] / 1e6:.1f}M"
    )
    train_data, cache_seconds = _train_batches(cfg, distill, encoded, session.log)
    # Distillation wraps last: it strips `teacher_logits` before any other wrapper sees them.
    trained = session.train(
        model,
        classify_task_factory(cfg.train, data.label_names, encoded["train"].labels or []),
        train_data,
        evaluate=split_evaluator(encoded["validation"], cfg.eval.batch_size, data.label_names),
        techniques=[distill],
    )
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    summary = classifier_summary(cfg, trained, data, encoded)
    if len(encoded["test"]) > 0:
        comparison = compare_with_teacher(
            cfg, trained.model, distill, encoded["test"], session.run_dir / "model", teacher_dir
        )
        summary["distillation"] = {**comparison, "teacher_cache_seconds": cache_seconds}
    return summary


def _train_batches(
    cfg: Any, distill: Distill, encoded: dict[str, EncodedSplit], log: Any
) -> tuple[TrainBatches, float | None]:
    """Plain training batches, or batches carrying cached teacher logits (cache_teacher), and
    the seconds spent caching (None when the teacher runs on the fly)."""
    args = (encoded["train"], cfg.train.batch_size, cfg.seed, cfg.train.group_by_length)
    if not cfg.distill.cache_teacher or cfg.distill.alpha == 0:
        return TrainBatches(*args), None
    if cfg.distill.hidden_weight > 0:
        log("note: hidden-state matching runs the teacher on every batch; the cache saves little")
    start = time.perf_counter()
    logits = distill.cache_logits(encoded["train"], cfg.eval.batch_size)
    seconds = round(time.perf_counter() - start, 2)
    log(f"cached the teacher's logits for {len(logits)} training examples in {seconds:.1f}s")
    return CachedTeacherBatches(*args, teacher_logits=logits), seconds

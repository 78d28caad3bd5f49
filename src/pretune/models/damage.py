"""Name the damaged file of a model folder or run, and say how to get a good copy back.

A truncated or corrupted file (a crash while copying, a full disk, a bad download) makes
safetensors, transformers, tokenizers, torch or onnxruntime fail with an exception of their own
that often names no file. Every place that opens a finished model (`runs.py`, `models/load.py`,
the distillation teacher) loads it inside `named_damage(folder)`: when loading fails, the
folder's files are checked one by one and the first unreadable one becomes a CheckpointError
(one line: the file, why, what to do). A failure with every file readable is not damage and is
raised unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError

__all__ = [
    "ONNX_FILE",
    "QUANTIZATION_FILE",
    "damaged_file_error",
    "find_damaged_file",
    "named_damage",
    "parse_json_file",
    "parse_yaml_file",
    "read_json_file",
    "read_yaml_file",
]

# A model folder holding this file is a dynamically quantised one (see deploy/quantize.py).
QUANTIZATION_FILE = "quantization.json"
# A model folder holding this file was written by `pretune export`.
ONNX_FILE = "model.onnx"
# ... and one holding this by `pretune prune`.
PRUNE_REPORT = "prune_report.json"


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line (YAML and protobuf errors span several)."""
    mark = getattr(exc, "problem_mark", None)  # a YAML error: its problem and where
    if mark is not None and getattr(exc, "problem", None):
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _recipe_of(run: Path) -> str:
    try:
        import yaml

        return str(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["recipe"])
    except Exception:  # a damaged or absent config.yaml: the user knows the recipe
        return "<recipe>"


def _source_run(folder: Path) -> str:
    """The run a derived folder (int8, ONNX, pruned) was written from: recorded, or its parent."""
    try:
        source = Path(json.loads((folder / QUANTIZATION_FILE).read_text("utf-8"))["source"])
        return str(source.parent if source.name == "model" else source)
    except Exception:  # not an int8 folder, or its record is damaged too
        return str(folder.parent) if (folder.parent / "model").is_dir() else "RUN"


def what_to_do(path: Path) -> str:
    """How to replace the damaged `path`: write a derived folder again, restore the weights
    from the best checkpoint, or train again."""
    folder = path.parent
    command = next(
        (name for marker, name in ((QUANTIZATION_FILE, "quantize"), (ONNX_FILE, "export"),
                                   (PRUNE_REPORT, "prune")) if (folder / marker).is_file()),
        None,
    )  # fmt: skip
    if command is not None:
        again = f"`pretune {command} {_source_run(folder)} output={folder}`"
        return f"write the folder again with {again}" + (
            " and the options used before" if command == "prune" else ""
        )
    run = folder.parent if folder.name == "model" else folder
    if not (run / "config.yaml").exists() and not (run / "summary.json").exists():
        return "replace the folder with a good copy (save_pretrained it or download it again)"
    if path.name == "config.yaml":
        return _restore_config(path)
    retrain = f"re-run training (`pretune {_recipe_of(run)} {run / 'config.yaml'}`)"
    best = run / "checkpoints" / "best" / "model.safetensors"
    if path.name == "model.safetensors" and folder.name == "model" and best.is_file():
        return (
            f"restore it from the best checkpoint (`cp {best} {path}`: the same weights unless a "
            f"technique such as LoRA or pruning changed the saved model), or {retrain}"
        )
    return retrain


def _restore_config(path: Path) -> str:
    """A damaged run config.yaml: a copy may travel in a folder written from the run."""
    for copy in sorted(path.parent.glob("*/config.yaml")):
        if _check_file(copy) is None:
            return f"restore it from the copy in {copy.parent.name}/ (`cp {copy} {path}`)"
    return "restore it from a backup, or re-run training with the same settings"


def damaged_file_error(
    path: Path, reason: BaseException | str, remedy: str | None = None
) -> CheckpointError:
    """The one-line error for an unreadable `path` (`remedy`: what to do, if not the usual)."""
    why = reason if isinstance(reason, str) else _one_line(reason)
    return CheckpointError(f"{path} is damaged ({why}); {remedy or what_to_do(path)}")


def _raw_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _json_object(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return data


def _yaml_mapping(path: Path) -> dict[str, Any]:
    if not isinstance(data := _raw_yaml(path), dict):
        raise ValueError("not a mapping of sections")
    return data


def parse_json_file(path: Path, remedy: str | None = None) -> Any:
    """The JSON value of a run's file, of any type; an unparsable one is a CheckpointError
    naming it (`remedy`: what to do, if not the usual)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are both
        raise damaged_file_error(Path(path), exc, remedy) from None


def parse_yaml_file(path: Path) -> Any:
    """The YAML value of a run's config.yaml, of any type (empty: {}); an unparsable one is a
    CheckpointError naming it."""
    import yaml

    try:
        return _raw_yaml(Path(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise damaged_file_error(Path(path), exc) from None


def read_json_file(path: Path, remedy: str | None = None) -> dict[str, Any]:
    """A JSON object file of a run (summary.json, ensemble.json, config.json); a damaged one
    is a CheckpointError naming it."""
    data = parse_json_file(path, remedy)
    if not isinstance(data, dict):
        raise damaged_file_error(Path(path), f"a JSON {type(data).__name__}, not an object", remedy)
    return data


def read_yaml_file(path: Path) -> dict[str, Any]:
    """A run's config.yaml as a mapping; a damaged one is a CheckpointError naming it."""
    data = parse_yaml_file(path)
    if not isinstance(data, dict):
        raise damaged_file_error(Path(path), "not a mapping of sections")
    return data


def _check_label_map(config: dict[str, Any]) -> str | None:
    """Why the `id2label` of a model's config.json is unusable (None: it is fine or absent)."""
    id2label = config.get("id2label")
    if id2label is None:
        return None
    if not isinstance(id2label, dict) or sorted(map(str, id2label)) != sorted(
        str(i) for i in range(len(id2label))
    ):
        return "its id2label label map is not one name per class id 0..K-1"
    return None


def _check_file(path: Path) -> str | None:
    """Why `path` cannot be read (None: it reads)."""
    try:
        if path.suffix == ".json":
            data = _json_object(path)
            return _check_label_map(data) if path.name == "config.json" else None
        if path.suffix in (".yaml", ".yml"):
            _yaml_mapping(path)
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as handle:
                handle.keys()
        elif path.suffix == ".bin":
            import torch

            torch.load(str(path), map_location="cpu", weights_only=True)
        elif path.suffix == ".onnx":
            _check_onnx(path)
    except Exception as exc:  # what each library raises for a bad file differs
        return _one_line(exc)
    return None


def _check_onnx(path: Path) -> None:
    import onnxruntime as ort

    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def find_damaged_file(folder: Path) -> tuple[Path, str] | None:
    """The first unreadable file of a model folder (config first, weights last) and why; a
    folder with a config.json but no weights file counts as damaged too."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    order = {"config.json": 0, ".json": 1, ".yaml": 2, ".safetensors": 3, ".bin": 3, ".onnx": 4}
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in order]
    files.sort(key=lambda p: (order.get(p.name, order[p.suffix]), p.name))
    for path in files:
        reason = _check_file(path)
        if reason is not None:
            return path, reason
    has_weights = any(p.suffix in (".safetensors", ".bin", ".onnx") for p in files)
    if (folder / "config.json").is_file() and not has_weights:
        return folder / "model.safetensors", "missing"
    return None


@contextlib.contextmanager
def named_damage(folder: Path) -> Iterator[None]:
    """Load from `folder` inside this: a failure caused by a damaged file becomes one
    CheckpointError naming the file; any other failure is raised unchanged."""
    try:
        yield
    except CheckpointError:  # already named (a nested load)
        raise
    except Exception as exc:
        damaged = find_damaged_file(folder)
        if damaged is None:
            raise
        raise damaged_file_error(*damaged) from exc

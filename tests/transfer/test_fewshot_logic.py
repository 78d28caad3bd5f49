"""Few-shot building blocks on tiny data: pairs, shots, prototypes, contrastive tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pretune.errors import ConfigError, DataError
from pretune.transfer.fewshot import (
    PairBatches,
    check_shots,
    draw_shots,
    predict_prototypes,
    prototypes,
)
from pretune.transfer.pairs import sample_pairs


def test_pairs_are_linear_and_balanced() -> None:
    labels = np.repeat(np.arange(4), 25)  # 100 examples
    pairs = sample_pairs(labels, per_example=3, seed=0)
    assert pairs.shape == (100 * 3 * 2, 3)  # 2·n·k rows, not n²
    i, j, t = pairs[:, 0].astype(int), pairs[:, 1].astype(int), pairs[:, 2]
    assert (t == 1).sum() == (t == 0).sum() == 300
    assert np.all((labels[i] == labels[j]) == (t == 1))  # targets match the labels
    assert not np.any(i == j)  # never paired with itself
    assert np.all(np.bincount(i, minlength=100) == 6)  # every example contributes equally
    # Memory grows with n, not n²: 10x the examples -> 10x the pairs.
    assert len(sample_pairs(np.repeat(np.arange(4), 250), 3, 0)) == 10 * len(pairs)


def test_pairs_single_member_class_gets_only_negatives() -> None:
    pairs = sample_pairs(np.array([0, 0, 1]), per_example=2, seed=0)
    lonely = pairs[pairs[:, 0] == 2]
    assert len(lonely) == 2 and np.all(lonely[:, 2] == 0)
    with pytest.raises(DataError, match="two classes"):
        sample_pairs(np.zeros(5, dtype=int), 2, 0)


def test_draw_shots_per_class_and_seeded() -> None:
    labels = np.array([0] * 10 + [1] * 6 + [2] * 8)
    pool = np.arange(24)
    shots = draw_shots(labels, pool, 4, seed=3)
    assert np.all(np.bincount(labels[shots]) == 4) and len(set(shots)) == 12
    assert np.array_equal(shots, draw_shots(labels, pool, 4, seed=3))
    assert not np.array_equal(shots, draw_shots(labels, pool, 4, seed=4))
    with pytest.raises(ConfigError, match="shots=7"):
        draw_shots(labels, pool, 7, seed=0)
    with pytest.raises(ConfigError, match=r"smallest class \('b' has 6"):
        check_shots({"a": 10, "b": 6}, 7)
    with pytest.raises(DataError, match="no examples"):
        check_shots({"a": 10, "b": 0}, 1)


def test_prototypes_are_class_means_and_nearest_wins() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 5)), np.repeat([2, 0, 1], 10)
    classes, protos = prototypes(x, y)
    assert list(classes) == [0, 1, 2]
    for k, c in enumerate(classes):
        assert np.allclose(protos[k], x[y == c].mean(0))
    # A point at a prototype is assigned to it, by either distance.
    for distance in ("cosine", "euclidean"):
        assert list(predict_prototypes(protos * 1.0, classes, protos, distance)) == [0, 1, 2]


def test_pair_batches_stack_both_sides() -> None:
    token_ids = [[1, 5], [1, 6, 7], [1]]
    pairs = np.array([[0, 1, 1.0], [2, 0, 0.0]])
    data = PairBatches(token_ids, pairs, batch_size=2, seed=0, pad_id=0)
    batch = data.load([0, 1])
    assert batch["input_ids"].shape == (4, 3)  # 2 pairs -> 4 rows: firsts, then partners
    assert batch["input_ids"][0].tolist() == [1, 5, 0] and batch["input_ids"][2].tolist() == [
        1,
        6,
        7,
    ]
    assert batch["labels"].tolist() == [1.0, 0.0]
    assert sorted(i for b in data.epoch_batches(0) for i in b) == [0, 1]


def test_contrastive_tuning_lowers_the_loss(tiny_bert: Path, tmp_path: Path) -> None:
    from helpers import make_rows
    from pretune.catalog import recipe as catalog_recipe
    from pretune.catalog.fewshot import FewshotConfig
    from pretune.config import load_config
    from pretune.transfer.embed import load_encoder
    from pretune.transfer.fewshot import tune_body

    cfg = load_config(
        None,
        [f"model.init_from={tiny_bert}", "model.max_length=32", "train.lr=1e-3",
         "train.epochs=4", "train.batch_size=8", "pairs_per_example=4", "train.num_threads=1"],
        defaults=catalog_recipe("fewshot").defaults(), schema=FewshotConfig,
    )  # fmt: skip
    rows = make_rows(6)
    names = sorted({label for _, label in rows})
    labels = np.array([names.index(label) for _, label in rows])
    encoder = load_encoder(str(tiny_bert))
    before = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    _, info = tune_body(cfg, encoder.model, encoder.tokenizer, [t for t, _ in rows], labels, 0,
                        tmp_path, log=lambda _: None)  # fmt: skip
    assert info["pairs"] == 18 * 4 * 2 and info["steps"] == 4 * 18
    assert info["last_loss"] < 0.7 * info["first_loss"]
    assert (tmp_path / "metrics.jsonl").is_file()
    # The base model is untouched (each draw tunes its own copy).
    assert all(torch_equal(v, before[k]) for k, v in encoder.model.state_dict().items())


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_one_draw_reports_no_spread_and_says_one_draw(capsys: pytest.CaptureFixture[str]) -> None:
    from pretune.cli.summaries import print_run_summary
    from pretune.transfer.results import aggregate

    one = aggregate([{"accuracy": 0.9129, "macro_f1": 0.9}])
    assert one["accuracy"] == {"mean": 0.9129, "std": None}
    three = aggregate([{"accuracy": a} for a in (0.5, 0.7, 0.9)])
    assert three["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1), abs=1e-4)
    print_run_summary(
        "fewshot", {"shots": 8, "draws": 1, "results": {"logreg": one}, "run_dir": "r"}
    )
    out = capsys.readouterr().out
    assert "8 shots per class, 1 draw" in out and "0.9129" in out and "±" not in out
    print_run_summary(
        "fewshot", {"shots": 8, "draws": 3, "results": {"logreg": three}, "run_dir": "r"}
    )
    out = capsys.readouterr().out
    assert "3 draws" in out and "0.7000 ± 0.2000" in out

"""Pre-training can hold out exactly the test split a fine-tuning run will use (no leakage)."""

from __future__ import annotations

from pretune.catalog import load_recipe_config
from pretune.config import DataConfig
from pretune.data.text_classification import prepare_data
from pretune.recipes.pretrain import load_texts


def _pretrain_texts(source, *overrides: str) -> dict[str, list[str]]:
    cfg = load_recipe_config("pretrain", None, [f"data.source={source}", *overrides])
    return load_texts(cfg)


def test_test_fraction_holds_out_finetunes_test_split(tiny_csv):
    split = ["data.val_fraction=0.1", "data.test_fraction=0.2", "seed=3"]
    texts = _pretrain_texts(tiny_csv, *split)
    data = prepare_data(DataConfig(source=str(tiny_csv), val_fraction=0.1, test_fraction=0.2), 3)
    assert texts["train"] == list(data.splits["train"]["text"][:])
    assert texts["validation"] == list(data.splits["validation"]["text"][:])
    test = set(data.splits["test"]["text"][:])
    assert len(test) == 30 and not test & set(texts["train"] + texts["validation"])


def test_without_test_fraction_every_text_is_used(tiny_csv, tmp_path):
    texts = _pretrain_texts(tiny_csv, "data.val_fraction=0.1")  # the default: no test split
    assert len(texts["train"]) + len(texts["validation"]) == 150
    plain = tmp_path / "corpus.txt"  # unlabelled text can still hold out a (random) test split
    plain.write_text("\n".join(f"document number {i} about things" for i in range(40)) + "\n")
    texts = _pretrain_texts(plain, "data.val_fraction=0.1", "data.test_fraction=0.25")
    assert (len(texts["train"]), len(texts["validation"])) == (26, 4)

"""Shared fixtures: a tiny BERT checkpoint (built from a config, with a WordPiece tokenizer
trained on the spot), a small labelled CSV a tiny model can learn in seconds, and the fixture
that leaves the process as each test found it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import TOPICS, make_rows, write_csv
from pretune.process_state import capture_process_state


@pytest.fixture(autouse=True)
def process_left_as_found() -> Iterator[None]:
    """Whatever a test changes in the process (torch threads and deterministic mode, seeds,
    environment variables, log levels, progress bars) is put back after it, so that no test's
    result depends on which tests ran before it in the same process."""
    before = capture_process_state()
    yield
    before.restore()


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 rows, 3 balanced labels."""
    return write_csv(tmp_path_factory.mktemp("data") / "topics.csv", make_rows(50))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT checkpoint folder with its own small WordPiece tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    corpus = [text for text, _ in make_rows(30, seed=1)] + [" ".join(TOPICS.values())]
    tok.train_from_iterator(
        corpus, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
    )  # fmt: skip
    fast.save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=fast.pad_token_id,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer tiny GPT-2 with a word-level tokenizer (SFT, RL, causal pre-training)."""
    from tiny_causal_lm import make_tiny_causal_lm

    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"), layers=2)


@pytest.fixture(scope="session")
def tiny_teacher(tiny_csv: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny classifier run that has learned the topics (a distillation teacher)."""
    from helpers import tiny_overrides
    from pretune.config import load_config
    from pretune.recipes.finetune import run_finetune

    out = tmp_path_factory.mktemp("teacher")
    overrides = tiny_overrides(
        tiny_csv,
        tiny_bert,
        out,
        "name=teacher",
        "model.max_length=32",
        "train.max_steps=40",
        "train.lr=5e-3",
        "train.num_threads=1",
    )
    summary = run_finetune(load_config(None, overrides), log=lambda _: None, live_progress=False)
    return Path(summary["run_dir"])

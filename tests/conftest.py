"""Shared fixtures: a tiny BERT checkpoint (built from a config, with a fixed WordPiece
vocabulary: the same model in every process), a small labelled CSV a tiny model can learn in
seconds, and the fixture that leaves the process as each test found it."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import FILLER, TOPICS, make_rows, write_csv
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


def _tiny_vocab() -> dict[str, int]:
    """The tiny BERT's WordPiece vocabulary, the same in every process: the special tokens,
    every lowercase letter, digit and punctuation mark (alone and as a ## continuation), every
    word of the topic texts, then unused ids up to 400. (Not the `tokenizers` WordPiece
    trainer: it breaks ties in a hash-map order that changes from process to process, so the
    vocabulary, hence the tiny model and every number a test measured on it, changed between
    runs: the same test passed alone and failed in the suite.)"""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    alphabet = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    words = sorted({w for text in (*TOPICS.values(), *FILLER) for w in text.split()})
    tokens = list(dict.fromkeys([*specials, *alphabet, *(f"##{c}" for c in alphabet), *words]))
    tokens += [f"[unused{i}]" for i in range(400 - len(tokens))]  # 400 ids, as tests assume
    return {token: i for i, token in enumerate(tokens)}  # ("a" is a letter and a word: once)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT checkpoint folder with its own small WordPiece tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = Tokenizer(models.WordPiece(_tiny_vocab(), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
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

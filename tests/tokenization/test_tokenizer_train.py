"""Tokenizer training: three types, saved in HF format, measured on held-out text."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from helpers import make_rows
from pretune.cli.main import main
from pretune.errors import ConfigError, DataError
from pretune.tokenization import measure_tokenizer, train_tokenizer

TEXTS = [text for text, _ in make_rows(40)]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_each_type_trains_saves_and_loads_with_autotokenizer(kind, tmp_path):
    tok = train_tokenizer(TEXTS, kind, vocab_size=400, min_frequency=1)
    assert 60 <= len(tok) <= 400
    assert tok.mask_token is not None and tok.pad_token_id is not None
    tok.save_pretrained(str(tmp_path))
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    text = "the striker scored a goal for the team"
    assert loaded(text)["input_ids"] == tok(text)["input_ids"]
    assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]).strip() == text


def test_report_counts_unknown_tokens_and_tokens_per_word():
    tok = train_tokenizer(TEXTS, "wordpiece", vocab_size=120, min_frequency=1)
    known = measure_tokenizer(tok, ["the team said"])
    assert known.unknown_rate == 0 and known.word_coverage == 1 and known.words == 3
    # Characters never seen in training are unknown for WordPiece (not for byte-level BPE).
    odd = measure_tokenizer(tok, ["the ☃☃ ΩΩ"])
    assert odd.unknown_tokens >= 1 and odd.word_coverage < 1
    bpe = train_tokenizer(TEXTS, "bpe", vocab_size=300, min_frequency=1)
    assert measure_tokenizer(bpe, ["the ☃☃ ΩΩ"]).unknown_rate == 0
    assert odd.tokens_per_word >= 1


def test_bad_input():
    with pytest.raises(DataError, match="empty"):
        train_tokenizer(["", "  "], "bpe")
    with pytest.raises(ConfigError, match="unknown"):
        train_tokenizer(TEXTS, "sentencepiece")
    with pytest.raises(ConfigError, match="too small"):
        train_tokenizer(TEXTS, "bpe", vocab_size=100)


def test_cli_trains_and_writes_report(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS), encoding="utf-8")
    out = tmp_path / "tok"
    code = main(
        [
            "tokenizer",
            "train",
            str(corpus),
            "type=bpe",
            "vocab_size=300",
            f"output={out}",
            "min_frequency=1",
        ]
    )
    assert code == 0
    report = json.loads((out / "tokenizer_report.json").read_text())
    assert report["type"] == "bpe" and report["unknown_rate"] == 0 and report["texts"] >= 1
    assert "mean tokens/word" in capsys.readouterr().out
    assert AutoTokenizer.from_pretrained(str(out)).eos_token == "</s>"
    assert main(["tokenizer", "train", str(corpus), "vocab_sise=300"]) == 2
    assert "did you mean 'vocab_size'" in capsys.readouterr().err

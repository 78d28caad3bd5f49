"""Train a tokenizer (WordPiece, BPE, Unigram) and measure how well it fits a held-out text."""

from pretune.tokenization.train import (
    TOKENIZER_TYPES,
    TokenizerReport,
    measure_tokenizer,
    train_tokenizer,
)

__all__ = ["TOKENIZER_TYPES", "TokenizerReport", "measure_tokenizer", "train_tokenizer"]

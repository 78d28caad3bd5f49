"""Train WordPiece / byte-level BPE / Unigram tokenizers with `tokenizers`, in HF format.

The result is a `PreTrainedTokenizerFast` (so `save_pretrained` writes a folder that
`AutoTokenizer.from_pretrained` loads) with the special tokens masked and causal language
models need: pad, unk, cls/bos, sep/eos and mask.

Example:
    >>> tok = train_tokenizer(["a small corpus", "of two lines"], "wordpiece", vocab_size=100)
    >>> tok.mask_token
    '[MASK]'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pretune.errors import ConfigError, DataError

__all__ = ["TOKENIZER_TYPES", "TokenizerReport", "measure_tokenizer", "train_tokenizer"]

TOKENIZER_TYPES = ("wordpiece", "bpe", "unigram")

# BERT's names for WordPiece; RoBERTa's for the others (cls=bos=<s>, sep=eos=</s>).
_SPECIALS = {
    "wordpiece": {
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    },
    "other": {
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "mask_token": "<mask>",
    },
}


def _special_tokens(kind: str) -> dict[str, str]:
    return _SPECIALS["wordpiece" if kind == "wordpiece" else "other"]


def _build(kind: str, lowercase: bool) -> tuple[Any, Any]:
    """An untrained `Tokenizer` of `kind` and the trainer class that fits it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind not in TOKENIZER_TYPES:
        raise ConfigError(
            f"tokenizer type '{kind}' unknown; choose from {', '.join(TOKENIZER_TYPES)}"
        )
    lower = [normalizers.Lowercase()] if lowercase else []
    # kind: (model, normalizer, pre-tokenizer, decoder, trainer class). BPE is byte-level
    # (GPT-2 style): every string is encodable, so it has no unknown token.
    parts = {
        "wordpiece": (models.WordPiece(unk_token="[UNK]"),
                      normalizers.BertNormalizer(lowercase=lowercase),
                      pre_tokenizers.BertPreTokenizer(), decoders.WordPiece(),
                      trainers.WordPieceTrainer),
        "bpe": (models.BPE(), normalizers.Sequence([normalizers.NFC(), *lower]),
                pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel(),
                trainers.BpeTrainer),
        "unigram": (models.Unigram(), normalizers.Sequence([normalizers.NFKC(), *lower]),
                    pre_tokenizers.Metaspace(), decoders.Metaspace(), trainers.UnigramTrainer),
    }  # fmt: skip
    model, normalizer, pre_tokenizer, decoder, trainer = parts[kind]
    tok = Tokenizer(model)
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre_tokenizer, decoder
    return tok, trainer


def _trainer_options(
    kind: str, specials: list[str], unk: str, vocab_size: int, min_frequency: int
) -> dict[str, Any]:
    """Keyword arguments of the `tokenizers` trainer of `kind`."""
    options: dict[str, Any] = {
        "vocab_size": vocab_size,
        "special_tokens": specials,
        "show_progress": False,
    }
    if kind == "unigram":
        options["unk_token"] = unk
    else:
        options["min_frequency"] = min_frequency
    if kind == "bpe":
        from tokenizers import pre_tokenizers

        # All 256 bytes must be in the vocabulary, or some text becomes unencodable.
        options["initial_alphabet"] = pre_tokenizers.ByteLevel.alphabet()
    return options


def _add_cls_sep(tok: Any, cls: str, sep: str) -> None:
    """Make `tok` wrap a text as `cls x sep` and a pair as `cls a sep b sep`."""
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B {sep}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )


def train_tokenizer(
    texts: Sequence[str],
    kind: str = "wordpiece",
    *,
    vocab_size: int = 8000,
    min_frequency: int = 2,
    lowercase: bool = True,
    max_length: int = 512,
):  # -> PreTrainedTokenizerFast
    """Train a tokenizer on `texts`.

    Args:
        texts: the training corpus (documents or lines).
        kind: wordpiece (BERT-style), bpe (byte-level, GPT-2 style) or unigram (SentencePiece).
        vocab_size: target vocabulary size, special tokens included.
        min_frequency: pieces seen fewer times are not merged (wordpiece/bpe).
        lowercase: lowercase the text first.
        max_length: `model_max_length` recorded in the tokenizer.

    Returns:
        A `PreTrainedTokenizerFast` whose single-text template adds cls/sep (`[CLS] x [SEP]` or
        `<s> x </s>`).

    Raises:
        DataError: `texts` holds no text.
        ConfigError: an unknown `kind` or a vocabulary too small for the special tokens.
    """
    from transformers import PreTrainedTokenizerFast

    if not any(t and t.strip() for t in texts):
        raise DataError("the tokenizer corpus is empty: give a source with some text")
    specials = _special_tokens(kind)
    ordered = list(dict.fromkeys(specials.values()))  # pad first: id 0
    # Byte-level BPE starts from all 256 bytes; the others need room beyond the specials.
    smallest = len(ordered) + (257 if kind == "bpe" else 10)
    if vocab_size < smallest:
        raise ConfigError(
            f"vocab_size={vocab_size} is too small for a {kind} tokenizer; use at least {smallest}"
        )
    tok, trainer_cls = _build(kind, lowercase)
    options = _trainer_options(kind, ordered, specials["unk_token"], vocab_size, min_frequency)
    tok.train_from_iterator((t for t in texts if t), trainer_cls(**options))
    _add_cls_sep(tok, specials["cls_token"], specials["sep_token"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_length, **specials)


@dataclass
class TokenizerReport:
    """How a tokenizer fits held-out text."""

    texts: int
    words: int
    tokens: int
    unknown_tokens: int
    unknown_rate: float  # unknown tokens / tokens
    word_coverage: float  # share of words encoded without any unknown token
    tokens_per_word: float
    vocab_size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_tokenizer(tokenizer: Any, texts: Sequence[str]) -> TokenizerReport:
    """Unknown-token rate, word coverage and mean tokens per (whitespace) word on `texts`."""
    unk = tokenizer.unk_token_id
    words = tokens = unknown = words_with_unk = 0
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False)
        ids = encoding["input_ids"]
        word_ids = encoding.word_ids()
        tokens += len(ids)
        words += len(text.split())
        unknown_words = {w for i, w in zip(ids, word_ids, strict=True) if i == unk}
        unknown += sum(1 for i in ids if i == unk)
        words_with_unk += len(unknown_words)
    return TokenizerReport(
        texts=len(texts),
        words=words,
        tokens=tokens,
        unknown_tokens=unknown,
        unknown_rate=round(unknown / max(tokens, 1), 6),
        word_coverage=round(1 - words_with_unk / max(words, 1), 6),
        tokens_per_word=round(tokens / max(words, 1), 4),
        vocab_size=len(tokenizer),
    )

"""A tiny GPT-2 and a word-level tokenizer, built in the test: fast enough for SFT/RL runs."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    *("user", "assistant", ":", "?", ".", "the", "sky", "grass", "is", "colour", "of", "what"),
    *("blue", "green", "red", "goal", "ball", "match", "vote", "bank", "film"),
]


def make_tokenizer(words: tuple[str, ...] | list[str] = tuple(WORDS)) -> object:
    """A word-level tokenizer: <pad>, <unk>, </s> then `words` (lowercased, punctuation split)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "</s>", *dict.fromkeys(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>",
        model_max_length=64,
    )  # fmt: skip


def make_tiny_causal_lm(folder: Path, layers: int = 1, width: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised 1-layer GPT-2 and its tokenizer into `folder`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=width, n_layer=layers, n_head=2, n_inner=2 * width,
        n_positions=64, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def make_tiny_classifier(folder: Path, labels: tuple[str, ...] = ("sports", "politics")) -> Path:
    """Save a tiny (untrained) BERT sequence classifier with `labels` into `folder`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = make_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder

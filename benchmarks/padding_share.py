"""Share of token slots spent on padding, for the paragraphs of `pretrain_throughput.py`:

    python benchmarks/padding_share.py        # ~1 minute (trains the 8,000-word tokenizer)

The 4,000 BBC paragraphs, the WordPiece tokenizer trained on them, cut at 128 tokens, batches
of 32: random batches (the Hugging Face default, each padded to its longest row), pretune's
length-grouped batches (`data/batching.py`, `pretrain.packing=false`), and packed windows
(`pretrain.packing=true`: 0 by construction, every window is full).
"""

from __future__ import annotations

from pretrain_throughput import bbc_paragraphs

from pretune.data.batching import epoch_batches
from pretune.tokenization import train_tokenizer


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    slots = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths[i] for b in batches for i in b) / slots


def main() -> None:
    texts = bbc_paragraphs(4000)
    tokenizer = train_tokenizer(texts, "wordpiece", vocab_size=8000, max_length=128)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    print(f"{len(texts)} paragraphs, mean {sum(lengths) / len(lengths):.1f} tokens")
    for name, grouped in (("random batches of 32", False), ("length-grouped (pretune)", True)):
        batches = epoch_batches(lengths, 32, seed=0, epoch=0, group_by_length=grouped)
        print(f"{name}: {padding_share(lengths, batches):.1%} padding")
    print("packed windows: 0.0% padding (every window is full)")


if __name__ == "__main__":
    main()

"""Make `tokenizers` training give the same tokenizer in every process.

The Rust trainers count words in a hash map whose seed is drawn per process (no environment
variable fixes it; PYTHONHASHSEED does not reach Rust), and two of them let that order leak:

- WordPiece (BPE with a `##` prefix) gives each continuation piece `##c` the next id the first
  time a word holding it comes out of the map; merges of equal count are then ordered by those
  ids, so ids and, at the vocabulary cut-off, the tokens themselves change. Giving the trainer the
  `##c` pieces up front, in sorted order, fixes every id, so the training itself is deterministic.
- Unigram sums its EM statistics over words in map order (scores differ in the last bits),
  gives the characters it adds only for coverage a score `min + k * 1e-4` in map order, and
  orders equal scores as they come. The result is canonicalised afterwards: scores rounded,
  those coverage scores handed out by character, pieces sorted by (-score, piece).

Byte-level BPE starts from all 256 bytes in a fixed order and is deterministic already.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["canonical_unigram", "train_wordpiece_deterministically"]

_CONTINUATION = "##"  # the WordPiece trainer's default continuing-subword prefix
# UnigramTrainer.finalize scores a character kept only for coverage `min_score + k * 1e-4`.
_COVERAGE_STEP = 1e-4
# EM scores differ between processes by < 1e-10; 5 decimals keep the 1e-4 coverage steps and
# are far finer than any segmentation choice needs.
_SCORE_DECIMALS = 5


def _nonempty(texts: Sequence[str]) -> Iterable[str]:
    return (t for t in texts if t)


def _continuation_pieces(tok: Any, trainer_cls: Any, options: dict[str, Any],
                         texts: Sequence[str]) -> list[str]:  # fmt: skip
    """The `##c` pieces the WordPiece trainer would create for `texts`, sorted."""
    from tokenizers import Tokenizer

    probe = Tokenizer.from_str(tok.to_str())  # an untrained copy
    # vocab_size=1 stops before the first merge: the alphabet and `##c` pieces only.
    probe.train_from_iterator(_nonempty(texts), trainer_cls(**{**options, "vocab_size": 1}))
    width = len(_CONTINUATION) + 1
    return sorted(t for t in probe.get_vocab() if t.startswith(_CONTINUATION) and len(t) == width)


def _without_added_tokens(tok: Any, dropped: set[str]) -> Any:
    """`tok` without the added tokens in `dropped` (they stay ordinary vocabulary pieces)."""
    from tokenizers import Tokenizer

    state = json.loads(tok.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] not in dropped]
    return Tokenizer.from_str(json.dumps(state))


def train_wordpiece_deterministically(
    tok: Any, trainer_cls: Any, options: dict[str, Any], texts: Sequence[str]
) -> Any:
    """Train the WordPiece `tok` on `texts` so that every process gets the same vocabulary.

    The trainer is told the `##c` pieces as extra special tokens (sorted, right after the real
    ones), so their ids no longer depend on hash-map order; they are then removed from the added
    tokens, where they would match literal `##c` in a text, and stay plain vocabulary pieces.
    """
    continuations = _continuation_pieces(tok, trainer_cls, options, texts)
    specials = [*options["special_tokens"], *continuations]
    trainer = trainer_cls(**{**options, "special_tokens": specials})
    tok.train_from_iterator(_nonempty(texts), trainer)
    return _without_added_tokens(tok, set(continuations))


def _canonical_coverage_scores(scores: dict[str, float]) -> None:
    """Hand the `min + k * step` coverage scores to characters in sorted order, not map order."""
    floor = min(scores.values())
    chars = {piece: score for piece, score in scores.items() if len(piece) == 1}
    steps = {}
    for piece, score in chars.items():
        k = (score - floor) / _COVERAGE_STEP
        # At most one step per character; a learnt score lands on the grid by chance only.
        if abs(k - round(k)) < 1e-6 and round(k) < len(chars):
            steps[piece] = round(k)
    for piece, k in zip(sorted(steps), sorted(steps.values()), strict=True):
        scores[piece] = floor + k * _COVERAGE_STEP


def canonical_unigram(tok: Any, specials: Sequence[str]) -> Any:
    """`tok` (a trained Unigram) with its special pieces first in `specials` order, then the
    other pieces by (-score, piece), scores rounded to 5 decimals."""
    from tokenizers import Tokenizer

    state = json.loads(tok.to_str())
    model = state["model"]
    unk = model["vocab"][model["unk_id"]][0]
    scores = {piece: score for piece, score in model["vocab"] if piece not in specials}
    _canonical_coverage_scores(scores)
    rounded = {piece: round(score, _SCORE_DECIMALS) for piece, score in scores.items()}
    special_scores = {piece: score for piece, score in model["vocab"] if piece in specials}
    head = [[piece, special_scores[piece]] for piece in specials if piece in special_scores]
    tail = sorted(([piece, score] for piece, score in rounded.items()),
                  key=lambda item: (-item[1], item[0]))  # fmt: skip
    model["vocab"] = head + tail
    ids = {piece: i for i, (piece, _) in enumerate(model["vocab"])}
    model["unk_id"] = ids[unk]
    for added in state["added_tokens"]:
        added["id"] = ids.get(added["content"], added["id"])
    return Tokenizer.from_str(json.dumps(state))

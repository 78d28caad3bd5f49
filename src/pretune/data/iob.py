"""IOB2 entity tags: reading entities out of a tag sequence and repairing IOB1-style sequences.

Two chunking modes, matching the two modes of the `seqeval` package:

- "strict" (seqeval `mode="strict", scheme=IOB2`): an entity is `B-X` followed by any number
  of `I-X`; an `I-X` that does not continue an entity of type X is ignored.
- "conlleval" (seqeval's default, the CoNLL-2000 perl script's rule): an `I-X` after `O` or
  after another type starts a new entity, as if it were `B-X`.

Here in `data` (reading CoNLL files needs them) and used by `evaluate.seqeval` for the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["CHUNKING", "Chunking", "get_entities", "repair_iob2", "split_tag"]

Chunking = Literal["strict", "conlleval"]
CHUNKING: tuple[str, ...] = ("strict", "conlleval")


def split_tag(tag: str) -> tuple[str, str]:
    """ "B-PER" -> ("B", "PER"); "O" (or a tag without a type) -> ("O", "")."""
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, kind = tag.split("-", 1)
    return prefix, kind


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1-style sequences to IOB2: an `I-X` that does not continue an X entity becomes `B-X`."""
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and kind != prev_kind:
            tag = f"B-{kind}"
        out.append(tag)
        prev_kind = kind if prefix in ("B", "I") else ""
    return out


def get_entities(tags: Sequence[str], mode: Chunking = "strict") -> list[tuple[str, int, int]]:
    """Entities of one sequence as (type, start, end) with `end` exclusive, in order."""
    if mode == "conlleval":
        tags = repair_iob2(tags)
    entities: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tags):
        prefix, kind = split_tag(tags[i])
        if prefix != "B":
            i += 1
            continue
        end = i + 1
        while end < len(tags) and split_tag(tags[end]) == ("I", kind):
            end += 1
        entities.append((kind, i, end))
        i = end
    return entities

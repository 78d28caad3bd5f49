"""NER readers (CoNLL columns, JSONL spans), sub-word alignment and span recovery; QA windows
with a stride, answer mapping and best-span decoding; clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.data.conll import (
    align_labels,
    encode_ner,
    label_set,
    read_conll,
    read_ner_jsonl,
    spans_from_tags,
    to_iob2,
)
from pretune.data.squad import QAExample, bbc_cloze, best_answers, encode_qa, read_squad_json
from pretune.errors import DataError

CONLL = """-DOCSTART- -X- O

EU NNP B-ORG
rejects VBZ O
German JJ B-MISC
call NN O

Peter NNP B-PER
Blackburn NNP I-PER
"""


def test_read_conll_columns_docstart_and_spans(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_text(CONLL)
    a, b = read_conll(path)
    assert a.words == ["EU", "rejects", "German", "call"]
    assert a.tags == ["B-ORG", "O", "B-MISC", "O"]
    assert b.text == "Peter Blackburn" and b.tags == ["B-PER", "I-PER"]
    assert spans_from_tags(b, b.tags) == [
        {"start": 0, "end": 15, "label": "PER", "text": "Peter Blackburn"}
    ]
    assert label_set([a, b]) == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_malformed_conll_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text("EU NNP B-ORG\nrejects O\n")
    with pytest.raises(DataError, match=r"bad\.conll:2: 2 columns .* has 3"):
        read_conll(path)


def test_tag_schemes() -> None:
    # IOB1: I- starts an entity; B- only splits adjacent same-type entities
    assert to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "x") == [
        "B-PER", "I-PER", "B-PER", "O", "B-LOC",
    ]  # fmt: skip
    assert to_iob2(["S-PER", "B-LOC", "E-LOC", "S-LOC"], "x") == [
        "B-PER",
        "B-LOC",
        "I-LOC",
        "B-LOC",
    ]
    with pytest.raises(DataError, match=r"f\.conll:3: tag 'PER' is not an IOB tag"):
        to_iob2(["O", "PER"], "f.conll:3")


def test_jsonl_spans_to_words_and_back(tmp_path: Path) -> None:
    text = "Angela Merkel visited New York's harbour."
    record = {"text": text, "entities": [{"start": 0, "end": 13, "label": "PER"},
                                          {"start": 22, "end": 30, "label": "LOC"}]}  # fmt: skip
    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (ex,) = read_ner_jsonl(path)
    assert ex.tags[:5] == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    # the entity boundary inside "York's" splits the word; spans come back exactly
    assert [(e["text"], e["label"]) for e in spans_from_tags(ex, ex.tags)] == [
        ("Angela Merkel", "PER"), ("New York", "LOC"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        (
            [{"start": 5, "end": 99, "label": "PER"}],
            r"ner\.jsonl:1: entity PER \[5, 99\) lies outside",
        ),
        ([{"start": 0, "end": 4, "label": "A"}, {"start": 2, "end": 6, "label": "B"}], "overlap"),
    ],
)
def test_bad_spans_are_clear_errors(tmp_path: Path, entities: list, message: str) -> None:
    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps({"text": "Some short text", "entities": entities}) + "\n")
    with pytest.raises(DataError, match=message):
        read_ner_jsonl(path)


def test_align_labels_first_subtoken_or_all() -> None:
    # [CLS] new york ##er [SEP]: word 1 has two sub-tokens
    word_ids = [None, 0, 1, 1, None]
    assert align_labels(word_ids, [1, 2]) == [-100, 1, 2, -100, -100]
    continuation = [0, 2, 2]  # O->O, B-X->I-X, I-X->I-X
    assert align_labels(word_ids, [1, 1], continuation) == [-100, 1, 1, 2, -100]


def test_encode_ner_with_tiny_tokenizer(tiny_bert: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    # a word the tiny WordPiece vocabulary splits into several sub-tokens
    pieces = {w: tokenizer.tokenize(w) for w in ("goalkeeper", "networking", "matchday")}
    word = next(w for w, p in pieces.items() if len(p) > 1 and "[UNK]" not in p)
    path = tmp_path / "t.conll"
    path.write_text(f"{word} B-PER\nmatch O\n")
    (ex,) = read_conll(path)
    labels = label_set([ex])
    enc = encode_ner(tokenizer, [ex], labels, max_length=32)
    ids, lab, starts = enc.input_ids[0], enc.labels[0], enc.word_starts[0]
    assert len(ids) > 4  # [CLS] word (>= 2 pieces) match [SEP]
    assert starts[0] == 1 and lab[1] == labels.index("B-PER")
    assert lab[starts[1]] == labels.index("O")
    assert [x for x in lab if x != -100] == [labels.index("B-PER"), labels.index("O")]
    every = encode_ner(tokenizer, [ex], labels, max_length=32, label_all_subtokens=True)
    assert every.labels[0][2] == labels.index("I-PER")  # the word's second piece
    batch = enc.load([0])
    assert batch["labels"].shape == batch["input_ids"].shape


# ---------------------------------------------------------------------------------------------
# QA


def test_windows_with_stride_map_the_answer(tiny_bert: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    words = [f"match{i % 7} goal" for i in range(40)]
    context = " ".join(words) + " the striker scored"
    start = context.index("striker")
    ex = QAExample("q1", "who scored", context, ["striker"], [start])
    enc = encode_qa(tokenizer, [ex], max_length=32, stride=8)
    assert len(enc) > 3  # a long context becomes several windows
    holding = [w for w in range(len(enc)) if enc.starts[w] > 0]
    assert holding and holding[-1] == len(enc) - 1  # the answer is at the end
    for w in holding:
        o = enc.offsets[w]
        assert context[o[enc.starts[w]][0] : o[enc.ends[w]][1]] == "striker"
    assert all(enc.starts[w] == enc.ends[w] == 0 for w in range(len(enc)) if w not in holding)
    # consecutive windows share `stride` context tokens
    first = [o for o in enc.offsets[0] if o is not None]
    second = [o for o in enc.offsets[1] if o is not None]
    assert first[-8:] == second[:8]

    # best span across windows from hand-made logits: put the peak on the answer
    starts = [[0.0] * len(r) for r in enc.input_ids]
    ends = [[0.0] * len(r) for r in enc.input_ids]
    w = holding[0]
    starts[w][enc.starts[w]] = 5.0
    ends[w][enc.ends[w]] = 5.0
    starts[0][0] = ends[0][0] = 50.0  # [CLS] is never a valid answer
    assert best_answers([ex], enc, starts, ends) == {"q1": "striker"}
    # an end before the start is invalid: the best valid span is used instead
    ends[w][enc.ends[w]] = 0.0
    ends[w][enc.starts[w] - 1] = 9.0
    assert best_answers([ex], enc, starts, ends)["q1"] != ""


def test_answer_start_mismatch_names_the_question(tmp_path: Path) -> None:
    data = {"data": [{"paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q-7", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}]}
    ]}]}]}  # fmt: skip
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        DataError, match=r"question 'q-7': answer 'France' is not at answer_start=3"
    ):
        read_squad_json(path)


def test_bbc_cloze_questions_point_at_the_context() -> None:
    article = (
        "Title line\n\nBank of England chief Mervyn King warned on Tuesday that rates may rise."
        "\n\nSpeaking in London, Mervyn King said inflation was rising. The Bank of England "
        "meets next week."
    )
    examples = bbc_cloze([article], per_article=3)
    answers = {ex.answers[0] for ex in examples}
    assert answers == {"Bank of England", "Mervyn King"}  # "Tuesday" is not in the context
    for ex in examples:
        assert "@placeholder" in ex.question and ex.answers[0] not in ex.question
        assert ex.context[ex.starts[0] :].startswith(ex.answers[0])

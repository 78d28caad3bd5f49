"""Toy NER (CoNLL) and QA (SQuAD JSON) files a tiny BERT learns in a few dozen steps."""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ["anna", "bruno", "carla", "dmitri", "elena", "farid", "greta", "hugo"]
CITIES = ["paris", "oslo", "lima", "cairo", "delhi", "quito", "rome", "tokyo"]
FILLER = ["the", "match", "team", "market", "data", "on", "with", "today"]


def toy_conll(path: Path, n: int, seed: int) -> Path:
    """Sentences where a person's name (two words) precedes 'visited' and a city follows."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [(w, "O") for w in rng.sample(FILLER, rng.randint(0, 3))]
        first, last = rng.sample(NAMES, 2)
        words += [
            (first, "B-PER"),
            (last, "I-PER"),
            ("visited", "O"),
            (rng.choice(CITIES), "B-LOC"),
        ]
        words += [(w, "O") for w in rng.sample(FILLER, rng.randint(0, 3))]
        lines += [f"{w}\t{t}" for w, t in words] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def toy_squad(path: Path, n: int, seed: int) -> Path:
    """Contexts naming a coach and a striker among filler; the question asks for one."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        coach, striker = rng.sample(NAMES, 2)
        parts = [" ".join(rng.choices(FILLER, k=rng.randint(2, 12))),
                 f"the coach is {coach} .", " ".join(rng.choices(FILLER, k=rng.randint(2, 12))),
                 f"the striker is {striker} .", " ".join(rng.choices(FILLER, k=4))]  # fmt: skip
        context = " ".join(parts)
        role, answer = rng.choice([("coach", coach), ("striker", striker)])
        start = context.index(f"{role} is {answer}") + len(f"{role} is ")
        qa = {"id": f"q{i}", "question": f"who is the {role}",
              "answers": [{"text": answer, "answer_start": start}]}  # fmt: skip
        paragraphs.append({"context": context, "qas": [qa]})
    path.write_text(json.dumps({"data": [{"title": "toy", "paragraphs": paragraphs}]}))
    return path

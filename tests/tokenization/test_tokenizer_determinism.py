"""The same corpus and settings give the same tokenizer in every process (the `tokenizers`
trainers count words in a hash map seeded per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pretune.data.sources import load_source
from pretune.tokenization import TOKENIZER_TYPES

TRAIN_EVERY_TYPE = """
import json, sys
from pathlib import Path
from pretune.tokenization import TOKENIZER_TYPES, train_tokenizer
texts = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
for kind in TOKENIZER_TYPES:
    tok = train_tokenizer(texts, kind, vocab_size=400, min_frequency=2)
    tok.save_pretrained(str(Path(sys.argv[2]) / kind))
"""


def _saved_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.json")}


def test_two_processes_train_identical_tokenizers(tmp_path: Path) -> None:
    # 89 real BBC articles (every 25th, all five topics): enough ties to tell orders apart.
    corpus = tmp_path / "corpus.json"
    texts = load_source("bbc", label_column=None, encoding_errors="replace")["text"][::25]
    corpus.write_text(json.dumps(texts), encoding="utf-8")
    # Different hash seeds too, though the trainers' Rust maps are seeded per process anyway.
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", TRAIN_EVERY_TYPE, str(corpus), str(tmp_path / seed)],
            env={**os.environ, "PYTHONHASHSEED": seed, "TOKENIZERS_PARALLELISM": "false"},
        )
        for seed in ("1", "2")
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    saved = {kind: [_saved_files(tmp_path / seed / kind) for seed in ("1", "2")]
             for kind in TOKENIZER_TYPES}  # fmt: skip
    assert [kind for kind, (first, second) in saved.items() if first != second] == []
    for kind, (first, _) in saved.items():
        assert len(json.loads(first["tokenizer.json"])["model"]["vocab"]) == 400, kind

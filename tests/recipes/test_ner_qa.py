"""NER and extractive QA end to end with the tiny BERT: they learn, write a normal run folder
with a model plain transformers loads, predict from the CLI, and bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.cli.main import main
from toy_tasks import toy_conll, toy_squad


def _records(run_dir: Path, split: str) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("split") == split]


def test_tiny_bert_learns_toy_ner_and_predicts_spans(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForTokenClassification

    data = toy_conll(tmp_path / "toy.conll", 240, seed=0)
    args = tiny_overrides(data, tiny_bert, tmp_path / "runs", "name=ner", "train.max_steps=60",
                          "train.eval_every=5", "train.batch_size=16")  # fmt: skip
    assert main(["ner", *args]) == 0
    run = tmp_path / "runs" / "ner"
    train, val = _records(run, "train"), _records(run, "validation")
    assert train[-1]["loss"] < 0.5 * train[0]["loss"]
    assert val[-1]["f1"] > val[0]["f1"] + 0.3 and val[-1]["f1"] > 0.6
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["test"]["per_class"]) == {"LOC", "PER"}
    assert summary["test"]["f1"] > 0.6
    assert (run / "report.html").is_file() and (run / "config.yaml").is_file()
    model = AutoModelForTokenClassification.from_pretrained(str(run / "model"))
    assert set(model.config.id2label.values()) == {"O", "B-LOC", "I-LOC", "B-PER", "I-PER"}

    texts = tmp_path / "texts.txt"
    texts.write_text("today greta hugo visited  oslo with the team\n")
    capsys.readouterr()
    assert main(["ner", "predict", str(run), str(texts)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    entities = json.loads(line)["entities"]
    text = json.loads(line)["text"]
    assert {"label": "LOC", "text": "oslo"}.items() <= next(
        e for e in entities if e["label"] == "LOC"
    ).items()
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


def test_tiny_qa_run_learns_and_answers(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForQuestionAnswering

    data = toy_squad(tmp_path / "toy.json", 200, seed=0)
    args = tiny_overrides(data, tiny_bert, tmp_path / "runs", "name=qa", "train.max_steps=60",
                          "model.max_length=32", "qa.stride=8", "train.batch_size=16",
                          "train.eval_every=30")  # fmt: skip
    assert main(["qa", *args]) == 0
    run = tmp_path / "runs" / "qa"
    train = _records(run, "train")
    assert train[-1]["loss"] < 0.7 * train[0]["loss"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["windows"]["train"] > summary["data"]["sizes"]["train"]  # windowed
    assert {"exact_match", "f1", "count"} <= set(summary["test"])
    AutoModelForQuestionAnswering.from_pretrained(str(run / "model"))

    questions = tmp_path / "q.jsonl"
    context = "the coach is hugo . the striker is anna ."
    item = {"id": "a", "question": "who is the coach", "context": context}
    questions.write_text(json.dumps(item) + "\n")
    capsys.readouterr()
    assert main(["qa", "predict", str(run), str(questions)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["id"] == "a" and context[answer["start"] : answer["end"]] == answer["answer"]


@pytest.mark.parametrize(
    ("command", "filename", "content", "message"),
    [
        ("ner", "bad.conll", "EU B-ORG\nrejects\tVBZ\tO\n", "bad.conll:2: 3 columns"),
        ("ner", "bad.conll", "EU PERSON\n", "tag 'PERSON' is not an IOB tag"),
        ("ner", "bad.jsonl", '{"text": "abc", "entities": [{"start": 1, "end": 9, "label": "X"}]}',
         "lies outside"),
        ("qa", "bad.jsonl", '{"id": "x9", "question": "q", "context": "abc def", '
         '"answers": [{"text": "def", "answer_start": 0}]}', "question 'x9': answer 'def'"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    filename: str,
    content: str,
    message: str,
) -> None:
    path = tmp_path / filename
    path.write_text(content + "\n")
    assert main([command, f"data.source={path}", f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


@pytest.mark.parametrize("recipe", ["ner", "qa"])
def test_resume_after_a_crash_matches_an_uninterrupted_run(
    recipe: str, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from safetensors.torch import load_file

    from helpers import Interrupted, StopAfterCheckpoint
    from pretune.catalog import load_recipe_config

    module = importlib.import_module(f"pretune.recipes.{recipe}")
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)
    run = getattr(module, f"run_{recipe}")
    data = (toy_conll(tmp_path / "toy.conll", 60, seed=0) if recipe == "ner"
            else toy_squad(tmp_path / "toy.json", 60, seed=0))  # fmt: skip

    def config(name: str):
        args = tiny_overrides(data, tiny_bert, tmp_path / "runs", f"name={name}",
                              "model.max_length=32", "qa.stride=8", "train.max_steps=6",
                              "train.eval_every=3", "train.checkpoint_every=3",
                              "train.log_every=1", "train.num_threads=1")  # fmt: skip
        if recipe == "ner":
            args.remove("qa.stride=8")
        return load_recipe_config(recipe, None, args)

    whole = run(config("whole"), log=lambda *_: None)
    with pytest.raises(Interrupted):
        run(config("cut"), log=lambda *_: None, extra_handlers=[StopAfterCheckpoint(3)])
    cut = tmp_path / "runs" / "cut"
    resumed = run(None, resume=cut, log=lambda *_: None)

    expected = load_file(str(Path(whole["run_dir"]) / "model" / "model.safetensors"))
    got = load_file(str(cut / "model" / "model.safetensors"))
    for key in expected:
        assert (expected[key] == got[key]).all(), f"{recipe}: {key} differs after resume"
    losses = [r["loss"] for r in _records(cut, "train")]
    assert len(losses) == 6 and losses == [
        r["loss"] for r in _records(Path(whole["run_dir"]), "train")
    ]
    assert resumed["test"] == whole["test"]

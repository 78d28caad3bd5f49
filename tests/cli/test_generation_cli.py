"""`pretune sft` / `pretune rl` / `pretune generate`: bad input is one `error:` line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.cli.main import main
from tiny_causal_lm import make_tiny_causal_lm, make_tiny_classifier


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generation-cli")
    return {
        "lm": make_tiny_causal_lm(root / "lm"),
        "classifier": make_tiny_classifier(root / "classifier", ("sports", "politics")),
        "root": root,
    }


def error_line(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sft(capsys, folders, data: Path, *extra: str) -> str:
    out = f"output_dir={folders['root'] / 'runs'}"
    args = ("sft", f"data.source={data}", f"model.init_from={folders['lm']}", out, *extra)
    return error_line(capsys, *args)


def rl(capsys, folders, *extra: str) -> str:
    prompts = folders["root"] / "prompts.txt"
    prompts.write_text("the match\n")
    out = f"output_dir={folders['root'] / 'runs'}"
    return error_line(capsys, "rl", f"data.source={prompts}", out, *extra)


def test_sft_pairs_without_prompt_or_response(capsys, folders, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"question": "what is red?", "answer": "ball"}])
    line = sft(capsys, folders, data)
    assert "row 1" in line and "'prompt'" in line and "'response'" in line
    assert "question, answer" in line


def test_sft_empty_response(capsys, folders, tmp_path):
    rows = [{"prompt": "what is red?", "response": "ball"}, {"prompt": "sky?", "response": " "}]
    line = sft(capsys, folders, write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert "row 2" in line and "'response' is empty" in line


def test_sft_needs_a_causal_lm_and_a_data_file(capsys, folders, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "a", "response": "b"}])
    line = sft(capsys, folders, data, f"model.init_from={folders['classifier']}")
    assert "not a causal LM" in line and "BertForSequenceClassification" in line
    line = error_line(capsys, "sft", f"model.init_from={folders['lm']}")
    assert "data.source is required" in line


def test_rl_reward_classifier_that_does_not_exist(capsys, folders):
    missing = folders["root"] / "no-such-run"
    line = rl(capsys, folders, f"model.init_from={folders['lm']}",
              f"reward.classifier={missing}", "reward.label=sports")  # fmt: skip
    assert f"reward.classifier={missing}" in line and "not found" in line


def test_rl_reward_label_not_among_the_labels_lists_them(capsys, folders):
    line = rl(capsys, folders, f"model.init_from={folders['lm']}",
              f"reward.classifier={folders['classifier']}", "reward.label=sport")  # fmt: skip
    assert "reward.label=sport" in line and "did you mean 'sports'" in line
    assert "sports, politics" in line


def test_rl_policy_must_be_a_causal_lm_and_a_reward_is_required(capsys, folders):
    line = rl(capsys, folders, f"model.init_from={folders['classifier']}", "reward.keywords=[goal]")
    assert "not a causal LM" in line
    line = rl(capsys, folders, f"model.init_from={folders['lm']}")
    assert "no reward" in line and "reward.classifier" in line


def test_generate_chat_on_a_run_without_a_template(capsys, folders):
    line = error_line(capsys, "generate", str(folders["lm"]), "what is", "chat=1")
    assert "no chat template" in line

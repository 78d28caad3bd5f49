"""Bad input never crashes with a traceback: one `error:` line naming the file/key, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_rows, write_csv
from pretune.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    return code, err


def assert_clean_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def finetune(capsys, tmp_path: Path, *overrides: str) -> tuple[int, str]:
    return run_cli(capsys, "finetune", f"output_dir={tmp_path / 'runs'}", *overrides)


def test_missing_data_file(capsys, tmp_path):
    code, err = finetune(capsys, tmp_path, f"data.source={tmp_path / 'nope.csv'}")
    assert_clean_error(code, err, "nope.csv")


def test_unknown_column_lists_existing_ones(capsys, tmp_path):
    path = write_csv(tmp_path / "reviews.csv", make_rows(5), header=("review", "stars"))
    code, err = finetune(capsys, tmp_path, f"data.source={path}", "data.text_column=txt")
    assert_clean_error(code, err, "txt", "reviews.csv", "review", "stars")


def test_malformed_jsonl_line_is_named(capsys, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": oops}\n')
    code, err = finetune(capsys, tmp_path, f"data.source={path}")
    assert_clean_error(code, err, "data.jsonl", "line 3")


def test_malformed_csv_row_is_named(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\nhello,x\nbad,row,extra\nfine,y\n")
    code, err = finetune(capsys, tmp_path, f"data.source={path}")
    assert_clean_error(code, err, "data.csv", "line 3")


def test_non_utf8_file_is_named(capsys, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,x\n".encode("latin-1"))
    code, err = finetune(capsys, tmp_path, f"data.source={path}")
    assert_clean_error(code, err, "latin.csv", "line 2", "encoding_errors")


def test_empty_after_cleaning(capsys, tmp_path):
    path = write_csv(tmp_path / "blank.csv", [("   ", "x"), ("", "y"), ("\t", "x")])
    code, err = finetune(capsys, tmp_path, f"data.source={path}")
    assert_clean_error(code, err, "blank.csv", "no examples left")


def test_test_label_never_seen_in_training(capsys, tmp_path):
    train = write_csv(tmp_path / "train.csv", make_rows(10))
    test = write_csv(tmp_path / "test.csv", [("a new topic entirely", "weather")])
    code, err = finetune(capsys, tmp_path, f"data.source={train}", f"data.test_file={test}")
    assert_clean_error(code, err, "weather")


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("train.lr=abc", ("train.lr", "abc")),
        ("train.batch_size=0", ("train.batch_size",)),
        ("train.lrr=1e-4", ("train.lrr", "train.lr")),
        ("data.clean.dedupe=fuzzy", ("data.clean.dedupe", "fuzzy")),
        ("trian.lr=1", ("trian", "train")),
    ],
)
def test_bad_config_value_or_key(capsys, tmp_path, override, fragments):
    code, err = finetune(capsys, tmp_path, override)
    assert_clean_error(code, err, *fragments)


def test_cross_field_conflict_is_explained(capsys, tmp_path):
    code, err = finetune(capsys, tmp_path, "train.warmup_steps=10", "train.warmup_ratio=0.2")
    assert_clean_error(code, err, "warmup_steps", "warmup_ratio")


def test_missing_config_file(capsys, tmp_path):
    code, err = run_cli(capsys, "finetune", str(tmp_path / "nope.yaml"))
    assert_clean_error(code, err, "nope.yaml")


def test_resume_from_a_folder_that_is_not_a_run(capsys, tmp_path):
    (tmp_path / "stuff").mkdir()
    code, err = run_cli(capsys, "finetune", "--resume", str(tmp_path / "stuff"))
    assert_clean_error(code, err, "stuff", "not a pretune run")


def test_resume_with_every_checkpoint_corrupted(capsys, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "step-2").mkdir(parents=True)
    (run / "checkpoints" / "step-2" / "model.safetensors").write_bytes(b"junk")
    (run / "config.yaml").write_text("seed: 0\n")
    code, err = run_cli(capsys, "finetune", "--resume", str(run))
    assert_clean_error(code, err, "step-2")


def test_predict_with_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, err = run_cli(capsys, "predict", str(tmp_path), "-")
    assert_clean_error(code, err, str(tmp_path))


def test_debug_shows_the_traceback(tmp_path):
    from pretune.errors import DataError

    with pytest.raises(DataError):
        main(["--debug", "finetune", f"data.source={tmp_path / 'nope.csv'}"])

"""Loading files, folders and built-ins, and the errors for bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pretune.data.sources import BUILTINS, is_builtin, load_source
from pretune.errors import DataError


def rows(ds):
    return list(zip(ds["text"], ds["label"], strict=True))


def test_csv_renames_columns_and_stringifies_labels(write):
    path = write("reviews.csv", 'review,stars,extra\n"good, film",5,x\nbad film,1,y\nNA,,z\n')
    ds = load_source(str(path), text_column="review", label_column="stars")
    assert ds.column_names == ["text", "label"]
    # "NA" is a text, not a missing value; an empty label stays missing for cleaning.
    assert rows(ds) == [("good, film", "5"), ("bad film", "1"), ("NA", None)]


def test_tsv_uses_tabs(write):
    path = write("data.tsv", "text\tlabel\nhello, world\tpos\nbye\tneg\n")
    assert rows(load_source(str(path))) == [("hello, world", "pos"), ("bye", "neg")]


def test_jsonl_accepts_mixed_label_types_and_blank_lines(write):
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": "x"}, {"text": None, "label": 2}]
    path = write(
        "d.jsonl", "\n".join(json.dumps(r) for r in lines[:2]) + "\n\n" + json.dumps(lines[2])
    )
    assert rows(load_source(str(path))) == [("a", "1"), ("b", "x"), (None, "2")]


def test_json_array_file(write):
    path = write("d.json", json.dumps([{"t": "a", "y": 0}, {"t": "b", "y": 1}]))
    ds = load_source(str(path), text_column="t", label_column="y")
    assert rows(ds) == [("a", "0"), ("b", "1")]


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"body": ["x", "y"], "cls": [3, 4], "id": [1, 2]}).to_parquet(path)
    ds = load_source(str(path), text_column="body", label_column="cls")
    assert ds.column_names == ["text", "label"]
    assert rows(ds) == [("x", "3"), ("y", "4")]


def test_txt_one_example_per_line(write):
    path = write("corpus.txt", "first line\r\nsecond line\n\nlast")
    ds = load_source(str(path), label_column=None)
    assert ds.column_names == ["text"]
    assert ds["text"] == ["first line", "second line", "", "last"]


def test_txt_with_label_column_is_refused(write):
    path = write("corpus.txt", "a\n")
    with pytest.raises(DataError, match=r"corpus\.txt: plain text has no labels.*CSV/JSONL"):
        load_source(str(path))


def test_folder_labels_from_subfolders(write, tmp_path):
    write("f/pos/b.txt", "great")
    write("f/pos/a.txt", "fine")
    write("f/neg/c.txt", "awful")
    write("f/neg/notes.md", "ignored")
    ds = load_source(str(tmp_path / "f"))
    assert rows(ds) == [("awful", "neg"), ("fine", "pos"), ("great", "pos")]
    assert load_source(str(tmp_path / "f"), label_column=None).column_names == ["text"]


def test_folder_without_subfolders(write, tmp_path):
    write("flat/a.txt", "x")
    with pytest.raises(DataError, match="has no subfolders"):
        load_source(str(tmp_path / "flat"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty has no subfolders"):
        load_source(str(tmp_path / "empty"))


def test_folder_bad_utf8_names_file_and_line(write, tmp_path):
    write("f/pos/bad.txt", b"ok\nstill ok\n\xff oops\n")
    with pytest.raises(DataError, match=r"bad\.txt, line 3: not valid UTF-8"):
        load_source(str(tmp_path / "f"))
    ds = load_source(str(tmp_path / "f"), encoding_errors="replace")
    assert "\ufffd oops" in ds["text"][0]


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("d.csv", b"text,label\na,x\ncaf\xe9,y\n", 3),
        ("d.tsv", b"text\tlabel\na\tx\nb\ty\ncaf\xe9\ty\n", 4),
        ("d.jsonl", b'{"text": "a", "label": "x"}\n{"text": "caf\xe9", "label": "x"}\n', 2),
        ("d.txt", b"one\ntwo\nthree\ncaf\xe9\n", 4),
    ],
)
def test_bad_utf8_names_file_and_line(write, name, content, line):
    path = write(name, content)
    with pytest.raises(DataError) as err:
        load_source(str(path), label_column=None if name == "d.txt" else "label")
    assert f"{name}, line {line}: not valid UTF-8" in str(err.value)
    assert "data.encoding_errors=replace" in str(err.value)


def test_encoding_errors_replace_loads_csv(write):
    path = write("d.csv", b"text,label\ncaf\xe9,x\n")
    assert load_source(str(path), encoding_errors="replace")["text"] == ["caf\ufffd"]


def test_jsonl_bad_line(write):
    path = write("d.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", "label": }\n')
    with pytest.raises(DataError, match=r"d\.jsonl, line 3: not valid JSON \("):
        load_source(str(path))


def test_jsonl_line_not_an_object(write):
    path = write("d.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n')
    with pytest.raises(DataError, match=r"d\.jsonl, line 2: expected a JSON object"):
        load_source(str(path))


def test_csv_ragged_row(write):
    path = write("train.csv", "text,label\na,x\nb,y\nc,z\nhello, world,x\n")
    with pytest.raises(DataError) as err:
        load_source(str(path))
    assert str(err.value) == (
        f"{path}, line 5: expected 2 fields, found 3 (is a comma inside an unquoted text?)"
    )


def test_csv_quoted_newline_counts_physical_lines(write):
    path = write("d.csv", 'text,label\n"two\nlines",x\nbad,row,here\n')
    with pytest.raises(DataError, match=r"d\.csv, line 4: expected 2 fields, found 3"):
        load_source(str(path))


def test_csv_header_only_and_empty(write):
    with pytest.raises(DataError, match="has a header but no rows"):
        load_source(str(write("h.csv", "text,label\n")))
    with pytest.raises(DataError, match=r"e\.csv is empty"):
        load_source(str(write("e.csv", "")))


def test_unknown_column_suggests_closest(write):
    path = write("train.csv", "review,stars\nlovely film,5\n")
    with pytest.raises(DataError) as err:
        load_source(str(path), text_column="txt", label_column="stars")
    assert str(err.value) == (
        "data.text_column='txt' not found in train.csv; columns are: review, stars "
        "(did you mean 'review'?)"
    )
    with pytest.raises(DataError, match=r"data.label_column='star' .*did you mean 'stars'"):
        load_source(str(path), text_column="review", label_column="star")


def test_unknown_column_jsonl(write):
    path = write("d.jsonl", '{"sentence": "a b c", "label": 1}\n')
    with pytest.raises(DataError, match=r"'text' not found in d\.jsonl.*did you mean 'sentence'"):
        load_source(str(path))


def test_missing_paths(tmp_path):
    with pytest.raises(DataError, match=r"no such file: .*nope\.csv"):
        load_source(str(tmp_path / "nope.csv"))
    with pytest.raises(DataError) as err:
        load_source("foo")
    assert str(err.value) == (
        "unknown data source 'foo': not a file, folder or built-in (bbc, digits)"
    )


def test_unsupported_extension(write):
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        load_source(str(write("d.xlsx", "x")))


def test_corrupt_parquet_is_a_data_error(write):
    with pytest.raises(DataError, match=r"could not read .*d\.parquet"):
        load_source(str(write("d.parquet", b"PAR1 this is not parquet")))


def test_builtins():
    assert BUILTINS == ("bbc", "digits")
    assert is_builtin("bbc") and not is_builtin("bbc.csv")
    digits = load_source("digits")
    assert digits.column_names == ["pixels", "label"]
    assert len(digits) == 1797 and len(digits[0]["pixels"]) == 64
    assert set(digits["label"]) == {str(d) for d in range(10)}
    assert max(max(p) for p in digits["pixels"][:50]) <= 16.0


def test_bbc_builtin():
    ds = load_source("bbc")
    assert ds.column_names == ["text", "label"]
    assert len(ds) == 2225
    assert sorted(set(ds["label"])) == ["business", "entertainment", "politics", "sports", "tech"]
    # Deterministic order: sorted labels, then sorted files.
    assert ds["label"][0] == "business" and ds["label"][-1] == "tech"
    assert sum("\ufffd" in t for t in ds["text"]) >= 1  # the one non-UTF-8 file was replaced


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("b.csv", "text,label\nhi,1\n"),
        ("b.jsonl", '{"text": "hi", "label": 1}\n'),
        ("f/1/a.txt", "hi"),
    ],
)
def test_utf8_bom_is_ignored(write, tmp_path, name, content):
    path = write(name, b"\xef\xbb\xbf" + content.encode())
    source = tmp_path / "f" if name.startswith("f/") else path
    assert rows(load_source(str(source))) == [("hi", "1")]


def test_parquet_float_labels_with_gaps_become_integer_strings(tmp_path):
    path = tmp_path / "gaps.parquet"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [3, None, 1.5]}).to_parquet(path)
    assert rows(load_source(str(path))) == [("a", "3"), ("b", None), ("c", "1.5")]

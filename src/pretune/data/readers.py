"""Stream-validate data files in plain Python so bad input is named by file and line.

These run before ``datasets``/pyarrow see a file: their errors are tracebacks without a line
number, ours are one-line `DataError` messages that say what to do.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pretune.errors import DataError

__all__ = ["check_delimited", "check_utf8", "read_json_rows", "read_text_file"]

ENCODING_HINT = (
    "set data.encoding_errors=replace to replace bad bytes, or re-save the file as UTF-8"
)


def read_text_file(file: Path, errors: str) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig", errors=errors)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{file}, line {line}: not valid UTF-8; {ENCODING_HINT}") from None


def check_utf8(path: Path, errors: str) -> None:
    """Stream the file and name the first line that is not valid UTF-8 (strict mode only)."""
    if errors != "strict":
        return
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}, line {number}: not valid UTF-8 (byte {raw[exc.start]:#04x} at "
                    f"column {exc.start + 1}); {ENCODING_HINT}"
                ) from None


def check_delimited(
    path: Path, delimiter: str, errors: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Check every CSV/TSV row has the header's field count.

    Returns:
        The header and the first 100 rows as dicts (to suggest a text column).
    """
    kind = "tab" if delimiter == "\t" else "comma"
    with path.open(encoding="utf-8-sig", errors=errors, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise DataError(f"{path} is empty; the first line must be a header of column names")
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise DataError(
                    f"{path}, line 1: column name(s) {', '.join(map(repr, dupes))} appear more "
                    "than once in the header; give each column a unique name"
                )
            rows = 0
            sample: list[dict[str, Any]] = []
            for row in reader:
                if not row:  # blank line; pandas skips these too
                    continue
                rows += 1
                if len(row) != len(header):
                    raise DataError(
                        f"{path}, line {reader.line_num}: expected {len(header)} fields, found "
                        f"{len(row)} (is a {kind} inside an unquoted text?)"
                    )
                if len(sample) < 100:
                    sample.append(dict(zip(header, row, strict=True)))
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: malformed row ({exc})") from None
    if rows == 0:
        raise DataError(f"{path} has a header but no rows")
    return header, sample


def read_json_rows(path: Path, errors: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Parse JSON lines (or a .json array of objects), naming the first bad line.

    Returns:
        The column names in order of first appearance, and the rows.
    """
    with path.open(encoding="utf-8-sig", errors=errors) as f:
        head = f.read(4096).lstrip()
    if path.suffix.lower() == ".json" and head.startswith("["):
        rows = _read_json_array(path, errors)
    else:
        rows = []
        with path.open(encoding="utf-8-sig", errors=errors) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
                        "each line must be one JSON object"
                    ) from None
                if not isinstance(value, dict):
                    raise DataError(
                        f"{path}, line {number}: expected a JSON object like "
                        f'{{"text": ..., "label": ...}}, found {type(value).__name__}'
                    )
                rows.append(value)
    if not rows:
        raise DataError(f"{path} is empty; expected one JSON object per line")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return columns, rows


def _read_json_array(path: Path, errors: str) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", errors=errors) as f:
        try:
            value = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    bad = next((i for i, v in enumerate(value) if not isinstance(v, dict)), None)
    if bad is not None:
        raise DataError(f"{path}: item {bad} of the JSON array is not an object")
    return value

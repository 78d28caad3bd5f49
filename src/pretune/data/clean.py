"""Drop empty, unlabelled, duplicate and out-of-range examples, and report what was dropped.

Each step is reported even when it removed nothing, so a run's report always shows that the
check happened. Rows are never modified, only dropped; the first copy of a duplicate is kept.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import datasets

from pretune.errors import DataError

__all__ = ["DEDUPE_MODES", "CleaningReport", "CleaningStep", "clean_dataset", "normalize_text"]

DEDUPE_MODES = ("none", "exact", "normalized")
_EXAMPLES_PER_STEP = 3
_SHORTEN_TO = 80
_WHITESPACE = re.compile(r"\s+")
# Edge punctuation only: "Great film!!" and "great film" are the same review, "don't" stays.
_EDGE_CHARS = string.punctuation + "“”‘’«»…–—"


@dataclass
class CleaningStep:
    """One cleaning step: how many rows it removed and up to 3 shortened examples."""

    name: str
    removed: int
    examples: list[str] = field(default_factory=list)


@dataclass
class CleaningReport:
    """What cleaning did: rows before and after, and each step in order."""

    rows_in: int
    rows_out: int
    steps: list[CleaningStep] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    def summary_lines(self) -> list[str]:
        """Return one human-readable line per step plus a total line."""
        lines = [f"{step.name}: removed {step.removed}" for step in self.steps]
        lines.append(f"kept {self.rows_out} of {self.rows_in} rows")
        return lines


def normalize_text(text: str) -> str:
    """Normalise a text for near-duplicate detection.

    Lowercases, collapses every run of whitespace to one space, and strips punctuation and
    spaces at both ends. Inner punctuation is kept, so only trivially different copies match.

    Args:
        text: The text.

    Returns:
        The normalised text ("" for a text that is only punctuation/whitespace).
    """
    return _WHITESPACE.sub(" ", text.lower()).strip(_EDGE_CHARS + " ")


def clean_dataset(
    ds: datasets.Dataset,
    *,
    drop_empty: bool = True,
    dedupe: str = "normalized",
    min_chars: int = 0,
    max_chars: int | None = None,
    has_label: bool = True,
    source_name: str = "data",
) -> tuple[datasets.Dataset, CleaningReport]:
    """Drop bad rows in a fixed order and report each step.

    Steps: missing/empty text, missing label (if ``has_label``), exact duplicates, normalised
    duplicates (``dedupe="normalized"`` only), too short (``< min_chars``), too long
    (``> max_chars``). Enabled steps are reported even when they remove nothing; disabled ones
    (``drop_empty=False``, ``dedupe="none"``) are left out of the report. A dataset without a
    ``"text"`` column (e.g. ``digits``) only gets the label check.

    Args:
        ds: Dataset with ``"text"`` and optionally ``"label"``.
        drop_empty: Drop rows whose text is None or whitespace only.
        dedupe: ``"none"``, ``"exact"`` or ``"normalized"`` (exact, then normalised).
        min_chars: Drop texts shorter than this many characters.
        max_chars: Drop texts longer than this many characters (None: no limit).
        has_label: Drop rows whose ``"label"`` is None or "".
        source_name: Name of the source, used in error messages.

    Returns:
        The cleaned dataset and a `CleaningReport`.

    Raises:
        DataError: For an unknown ``dedupe`` mode or when no rows are left.
    """
    if dedupe not in DEDUPE_MODES:
        raise DataError(
            f"data.dedupe={dedupe!r} is not valid; use one of: {', '.join(DEDUPE_MODES)}"
        )
    if has_label and "label" not in ds.column_names:
        raise DataError(
            f"{source_name} has no 'label' column; set data.label_column or use an unlabelled task"
        )
    # `[:]` materialises a list: `ds[col]` is a lazy Column whose item access reads Arrow each time.
    texts: list[Any] | None = ds["text"][:] if "text" in ds.column_names else None
    labels: list[Any] | None = ds["label"][:] if has_label else None
    checks = _cleaning_checks(texts, labels, drop_empty, dedupe, min_chars, max_chars)
    keep, steps = _apply_checks(checks, len(ds), texts)

    report = CleaningReport(rows_in=len(ds), rows_out=len(keep), steps=steps)
    if not keep:
        detail = "; ".join(f"{s.name}: {s.removed}" for s in steps if s.removed) or "it was empty"
        raise DataError(f"no examples left in {source_name} after cleaning: {detail}")
    return (ds if len(keep) == len(ds) else ds.select(keep)), report


_Check = tuple[str, Callable[[int], bool]]


def _cleaning_checks(
    texts: list[Any] | None,
    labels: list[Any] | None,
    drop_empty: bool,
    dedupe: str,
    min_chars: int,
    max_chars: int | None,
) -> list[_Check]:
    """The enabled steps of `clean_dataset`, in order: (name, row index -> drop?).

    `texts` is None for a dataset without a text column (then only the label check applies);
    `labels` is None when the data has no labels to check.
    """
    label_checks: list[_Check] = []
    if labels is not None:
        given: list[Any] = labels  # a name the closure can rely on (never None)
        label_checks.append(
            ("missing label", lambda i: given[i] is None or str(given[i]).strip() == "")
        )
    if texts is None:
        return label_checks
    rows: list[Any] = texts
    checks: list[_Check] = []
    if drop_empty:
        checks.append(("missing or empty text", lambda i: _is_blank(rows[i])))
    checks += label_checks
    if dedupe != "none":
        checks.append(("exact duplicates", _first_seen(rows, lambda t: t)))
    if dedupe == "normalized":
        checks.append(("normalized duplicates", _first_seen(rows, normalize_text)))
    longest = max_chars if max_chars is not None else float("inf")
    checks.append(("too short", lambda i: len(rows[i] or "") < min_chars))
    checks.append(("too long", lambda i: len(rows[i] or "") > longest))
    return checks


def _apply_checks(
    checks: list[_Check], rows: int, texts: list[Any] | None
) -> tuple[list[int], list[CleaningStep]]:
    """(kept row indices, one report step per check); each check sees only the rows kept by
    the checks before it. `texts` (None: no text column) supplies the examples shown."""
    keep = list(range(rows))
    steps = []
    for name, drop in checks:
        removed = [i for i in keep if drop(i)]
        removed_set = set(removed)
        keep = [i for i in keep if i not in removed_set]
        shown = [_shorten(texts[i]) for i in removed[:_EXAMPLES_PER_STEP]] if texts else []
        steps.append(CleaningStep(name, len(removed), shown))
    return keep, steps


def _is_blank(text: Any) -> bool:
    return text is None or not str(text).strip()


def _first_seen(texts: Sequence[Any], key: Callable[[str], str]) -> Callable[[int], bool]:
    """Return a predicate that is True for a row whose key was already seen among kept rows.

    It is stateful and must be called on kept rows in index order, which `clean_dataset` does;
    rows dropped by earlier steps never enter ``seen``, so a blank row cannot shadow a real one.
    """
    seen: set[str] = set()

    def is_duplicate(i: int) -> bool:
        k = key(texts[i] or "")
        if k in seen:
            return True
        seen.add(k)
        return False

    return is_duplicate


def _shorten(text: Any, width: int = _SHORTEN_TO) -> str:
    if text is None:
        return "<missing>"
    flat = _WHITESPACE.sub(" ", str(text)).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"

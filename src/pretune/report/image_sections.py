"""The report section of an image run: clean vs FGSM/PGD accuracy (summary["robustness"]).
Here, not in vision/, so the report package owns all its HTML."""

from __future__ import annotations

from pretune.report.html import esc, missing, table
from pretune.report.run_data import RunData, dig

__all__ = ["robustness_section"]


def robustness_section(run: RunData) -> str | None:
    """A table of accuracy under L-inf pixel attacks at each epsilon; None (left out of the
    page) for runs that are not image runs."""
    r = dig(run.summary, "robustness")
    if not isinstance(r, dict) or not isinstance(r.get("table"), list):
        if dig(run.config, "image") is None:
            return None
        return missing("no pixel attacks in this run (set image.robustness.epsilons)")
    rows = [("0 (clean)", r.get("clean_accuracy"), r.get("clean_accuracy"))]
    rows += [(e.get("epsilon"), e.get("fgsm_accuracy"), e.get("pgd_accuracy")) for e in r["table"]]
    note = (
        f"<p>L-inf attacks on the {esc(r.get('examples'))} test images; epsilon in pixel units "
        f"(pixels are 0..1), adversarial images clamped to [0, 1]; PGD: "
        f"{esc(r.get('pgd_steps'))} steps, never weaker than FGSM.</p>"
    )
    return table(["epsilon", "FGSM accuracy", "PGD accuracy"], rows) + note

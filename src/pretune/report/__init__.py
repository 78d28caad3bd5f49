"""Self-contained HTML reports: one run (`write_report`) or several side by side
(`write_compare`). Plots are inline PNGs; the pages need no network and no scripts.

Importing this package is cheap (matplotlib loads only when a plot is drawn), so recipes can
import it at the top.
"""

from pretune.report.compare import write_compare
from pretune.report.model_card import try_write_model_card, write_model_card
from pretune.report.render import render_report, try_write_report, write_report
from pretune.report.run_data import RunData, load_run

__all__ = [
    "RunData",
    "load_run",
    "render_report",
    "try_write_model_card",
    "try_write_report",
    "write_compare",
    "write_model_card",
    "write_report",
]

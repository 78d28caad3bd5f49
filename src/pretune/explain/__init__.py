"""Explain a classifier: word attributions (IG, SHAP, LIME), attention, global rules.

See docs/explain.md; `pretune explain RUN text="..."` writes `RUN/explain/index.html`.
"""

from pretune.explain.attributions import METHODS, Attribution, Explainer
from pretune.explain.run import explain_run

__all__ = ["METHODS", "Attribution", "Explainer", "explain_run"]

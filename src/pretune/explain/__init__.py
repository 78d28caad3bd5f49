"""Explain a classifier: word attributions (IG, SHAP, LIME), attention, global rules.

See docs/explain.md; `pretune explain RUN text="..."` prints each prediction and its top words;
with `--save` it writes `RUN/explain/index.html`.
"""

from pretune.explain.attributions import METHODS, Attribution, Explainer
from pretune.explain.run import explain_run

__all__ = ["METHODS", "Attribution", "Explainer", "explain_run"]

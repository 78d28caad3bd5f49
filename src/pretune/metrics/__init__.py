"""Pure metric functions: classification (streaming confusion matrix), entity-level scores
(`seqeval.py`) and SQuAD exact match / F1 (`squad.py`).

They sit with data and models, below tasks and evaluation: tasks build their streaming metrics
from here and data readers repair IOB2 tags with `seqeval.py`, without importing the
evaluator. Import the module you need (`pretune.metrics.classification`, `.seqeval`, `.squad`).
"""

"""`python -m pretune ...` (also what `accelerate launch -m pretune` runs)."""

from pretune.cli.main import entry

entry()

"""Hyper-parameter search over any config key (Optuna underneath); see docs/search.md."""

from pretune.hpo.space import Param, apply_params, load_space, parse_space
from pretune.hpo.study import SearchSpec, run_search

__all__ = ["Param", "SearchSpec", "apply_params", "load_space", "parse_space", "run_search"]

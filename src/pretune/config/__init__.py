"""The run config: one validated object per run, loadable from YAML, overridable as `a.b=value`.

- `sections.py`: the sections runs are composed from (data, model, train, eval) and `Section`;
- `compose.py`: `compose` builds a recipe's schema from the sections it reads, `narrow` trims a
  section to the keys a recipe reads;
- `load.py`: defaults -> YAML -> overrides -> validation, saving and describing.

Every field has a one-line description (`pretune config show <recipe>` prints them).
"""

from pretune.config.compose import RunBase, compose, narrow
from pretune.config.load import (
    TECHNIQUES_FIELD,
    RunConfig,
    apply_overrides,
    describe_fields,
    load_config,
    parse_override,
    save_config,
)
from pretune.config.sections import (
    CleanConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    Section,
    TrainConfig,
    check_split,
    check_validation_for_early_stopping,
    reads_recorded,
)

__all__ = [
    "TECHNIQUES_FIELD",
    "CleanConfig",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "RunBase",
    "RunConfig",
    "Section",
    "TrainConfig",
    "apply_overrides",
    "check_split",
    "check_validation_for_early_stopping",
    "compose",
    "describe_fields",
    "load_config",
    "narrow",
    "parse_override",
    "reads_recorded",
    "save_config",
]

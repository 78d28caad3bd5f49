"""`pretune techniques` lists every registry entry with its one-line help."""

from __future__ import annotations

from pretune.cli.main import main
from pretune.cli.techniques import catalogue
from pretune.techniques import TECHNIQUES
from pretune.train.optim import OPTIMIZERS, SCHEDULES


def test_every_registered_name_is_listed(capsys) -> None:
    assert main(["techniques"]) == 0
    out = capsys.readouterr().out
    for name in [*TECHNIQUES.names(), *OPTIMIZERS.names(), *SCHEDULES.names()]:
        assert name in out, f"{name} missing from `pretune techniques`"
    titles = [title for title, _, _ in catalogue()]
    assert titles[:3] == ["techniques", "optimizers", "LR schedules"]
    assert all(help_text for _, _, entries in catalogue() for _, help_text in entries)

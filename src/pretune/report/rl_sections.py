"""The report section of an RL run: reward and KL over steps (`{"split": "rl"}` records).
Here, not in rl/, so the report package owns all its HTML."""

from __future__ import annotations

from pretune.report.html import esc, image, row, table
from pretune.report.plots import line_chart
from pretune.report.run_data import RunData, series

__all__ = ["rl_section"]


def _moving_mean(ys: list[float], width: int) -> list[float]:
    out, total = [], 0.0
    for i, y in enumerate(ys):
        total += y
        if i >= width:
            total -= ys[i - width]
        out.append(total / min(i + 1, width))
    return out


def rl_section(run: RunData) -> str | None:
    """Training reward (per step and smoothed), held-out reward, and KL to the reference;
    None (left out of the page) for runs that are not RL runs."""
    records = run.split_records("rl")
    if not records:
        return None
    steps, reward = series(records, "reward")
    width = max(1, len(reward) // 10)
    held_out = run.split_records("validation")
    reward_uri = line_chart(
        [
            ("reward (step)", steps, reward),
            (f"reward ({width}-step mean)", steps, _moving_mean(reward, width)),
            ("held-out prompts", *series(held_out, "reward")),
        ],
        title="Reward",
        ylabel="mean reward",
    )
    kl_uri = line_chart(
        [("KL (step)", *series(records, "kl")), ("held-out prompts", *series(held_out, "kl"))],
        title="KL(policy || reference)",
        ylabel="nats per completion",
    )
    window = max(1, min(10, len(records) // 4))
    first = sum(reward[:window]) / window
    last = sum(reward[-window:]) / window
    kls = [r["kl"] for r in records if "kl" in r]
    rows = [
        (f"reward, mean of the first {window} steps", first),
        (f"reward, mean of the last {window} steps", last),
        ("KL, max over steps", max(kls) if kls else None),
        (f"KL, mean of the last {window} steps", sum(kls[-window:]) / window if kls else None),
    ]
    images = [image(uri, alt) for uri, alt in ((reward_uri, "reward"), (kl_uri, "KL")) if uri]
    return (
        row(*images) + f'<p class="lead">{esc(len(records))} steps</p>' + table(["", "value"], rows)
    )

"""SFT and RL fine-tuning end to end on a tiny GPT-2: the SFT loss falls and the model answers
its toy prompts; RL with a keyword reward raises the reward while the KL stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.catalog import load_recipe_config
from tiny_causal_lm import make_tiny_causal_lm

PAIRS = [
    ("what is the colour of the sky?", "blue"),
    ("what is the colour of grass?", "green"),
    ("what is red?", "the ball"),
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"), layers=2)


def config(recipe: str, *overrides: str):
    return load_recipe_config(recipe, None, list(overrides))


def records(run_dir: Path, split: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("split") == split]


def test_sft_learns_the_responses_and_generate_uses_the_template(tiny_lm, tmp_path):
    from pretune.deploy.generate import generate_text
    from pretune.recipes.sft import run_sft

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in PAIRS))
    cfg = config(
        "sft",
        f"data.source={pairs}",
        f"model.init_from={tiny_lm}",
        f"output_dir={tmp_path / 'runs'}",
        "data.val_fraction=0",
        "model.max_length=32",
        "train.batch_size=3",
        "train.max_steps=40",
        "train.lr=1e-2",
        "train.warmup_ratio=0",
        "train.log_every=1",
    )
    summary = run_sft(cfg, log=lambda *_: None)
    run = Path(summary["run_dir"])
    losses = [r["loss"] for r in records(run, "train")]
    assert losses[-1] < 0.1 < 2.0 < losses[0]
    assert (
        summary["chat_template"] == "default" and summary["data"]["response_tokens"] == 7
    )  # reply words + EOS
    for prompt, response in PAIRS:
        assert generate_text(run, prompt, temperature=0, max_new_tokens=5) == response
    # Without the template the model continues raw text: not the trained reply format.
    raw = generate_text(run, PAIRS[0][0], temperature=0, max_new_tokens=3, chat=False)
    assert raw.startswith(PAIRS[0][0]) and raw != PAIRS[0][1]


def run_keyword_rl(tiny_lm: Path, tmp_path: Path, kl_coef: float) -> dict:
    from pretune.recipes.rl import run_rl

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the match\nwhat is\nthe sky is\nthe colour of\n")
    cfg = config(
        "rl",
        f"data.source={prompts}",
        f"model.init_from={tiny_lm}",
        f"output_dir={tmp_path / 'runs'}",
        f"name=kl{kl_coef}",
        "reward.keywords=[goal]",
        f"rl.kl_coef={kl_coef}",
        "rl.max_new_tokens=6",
        "rl.samples_per_prompt=4",
        "rl.eval_prompts=0",
        "train.batch_size=4",
        "train.max_steps=30",
        "train.lr=1e-2",
    )
    return run_rl(cfg, log=lambda *_: None)


def test_keyword_rl_raises_the_reward_with_a_bounded_kl(tiny_lm, tmp_path):
    free = run_keyword_rl(tiny_lm, tmp_path, kl_coef=0.0)
    tied = run_keyword_rl(tiny_lm, tmp_path, kl_coef=0.05)
    steps = records(Path(tied["run_dir"]), "rl")
    assert len(steps) == 30 and {"reward", "kl", "loss"} <= set(steps[0])
    # 4 prompts x 4 samples per step, 6 words each: "goal" is 1 word of 24 at the start.
    for run in (free, tied):
        assert run["reward"]["first_steps_mean"] < 0.2
        assert run["reward"]["last_steps_mean"] > 0.5
    # Without the penalty the policy collapses onto "goal goal ..." far from the reference;
    # with it the KL stays bounded: well below the unpenalised run's.
    assert free["kl"]["last_steps_mean"] > 12.0
    assert tied["kl"]["max"] < 0.7 * free["kl"]["last_steps_mean"]
    report = (Path(tied["run_dir"]) / "report.html").read_text()
    assert "Reward and KL" in report and "not an RL run" not in report


def _sft_config(tiny_lm: Path, tmp_path: Path, name: str):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in PAIRS))
    return config(
        "sft", f"data.source={pairs}", f"model.init_from={tiny_lm}",
        f"output_dir={tmp_path / 'runs'}", f"name={name}", "data.val_fraction=0",
        "model.max_length=32", "train.batch_size=2", "train.max_steps=6", "train.lr=1e-2",
        "train.log_every=1", "train.checkpoint_every=3", "train.num_threads=1",
    )  # fmt: skip


def _rl_config(tiny_lm: Path, tmp_path: Path, name: str):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the match\nwhat is\nthe sky is\nthe colour of\n")
    return config(
        "rl", f"data.source={prompts}", f"model.init_from={tiny_lm}",
        f"output_dir={tmp_path / 'runs'}", f"name={name}", "reward.keywords=[goal]",
        "rl.max_new_tokens=4", "rl.samples_per_prompt=2", "rl.eval_prompts=1",
        "train.batch_size=2", "train.max_steps=6", "train.lr=1e-2", "train.checkpoint_every=3",
        "train.num_threads=1",
    )  # fmt: skip


@pytest.mark.parametrize("recipe", ["sft", "rl"])
def test_resume_after_a_crash_matches_an_uninterrupted_run(recipe, tiny_lm, tmp_path):
    from safetensors.torch import load_file

    from helpers import Interrupted, StopAfterCheckpoint
    from pretune.recipes.rl import run_rl
    from pretune.recipes.sft import run_sft

    run, make = (run_sft, _sft_config) if recipe == "sft" else (run_rl, _rl_config)
    whole = run(make(tiny_lm, tmp_path, "whole"), log=lambda *_: None)
    with pytest.raises(Interrupted):
        run(make(tiny_lm, tmp_path, "cut"), log=lambda *_: None,
            extra_handlers=[StopAfterCheckpoint(3)])  # fmt: skip
    cut = tmp_path / "runs" / "cut"
    assert not (cut / "model").exists()
    resumed = run(None, resume=cut, log=lambda *_: None)  # type: ignore[arg-type]

    expected = load_file(str(Path(whole["run_dir"]) / "model" / "model.safetensors"))
    got = load_file(str(cut / "model" / "model.safetensors"))
    for key in expected:
        assert (expected[key] == got[key]).all(), f"{recipe}: {key} differs after resume"
    split = "train" if recipe == "sft" else "rl"

    def logged(run_dir: Path) -> list[dict]:  # the figures, not the timings
        keys = ("step", "loss", "lr", "grad_norm", "reward", "kl")
        return [{k: r.get(k) for k in keys} for r in records(run_dir, split)]

    assert len(logged(cut)) == 6 and logged(cut) == logged(Path(whole["run_dir"]))
    if recipe == "rl":  # the summary covers the whole run, not only the resumed half
        assert resumed["reward"] == whole["reward"] and resumed["kl"] == whole["kl"]
        assert resumed["evaluation"] == whole["evaluation"]

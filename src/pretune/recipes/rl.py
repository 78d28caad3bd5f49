"""Recipe: RL fine-tuning of a causal LM against a reward, with a KL penalty (RLOO).

    prompts (bbc openings / JSONL / TXT) -> policy = model.init_from, reference = a frozen copy
    -> reward (classifier probability of a label, or keywords)
    -> PolicyGradientTask (sample, score, KL, policy-gradient loss) -> fit (the one loop)
    -> model/ + summary.json + metrics.jsonl ({"split": "rl"} per step) + report.html

Why not trl: `trl` (1.16) installs here without changing torch/transformers, but its RL
trainers (RLOOTrainer, GRPOTrainer, PPOTrainer) are `transformers.Trainer` subclasses with
their own loop, checkpoints and logging, which would bypass pretune's loop, techniques,
callbacks and run folders (docs/architecture.md: one loop). The algorithm is small, so it is a
task here.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pretune.catalog.rl import check_rl_config
from pretune.data.batching import epoch_batches
from pretune.data.readers import read_json_rows, read_text_file
from pretune.data.sources import load_source
from pretune.errors import DataError
from pretune.models.settings import apply_model_settings
from pretune.recipes._runner import recipe
from pretune.recipes.sft import load_causal_lm
from pretune.report.run_data import read_records
from pretune.rl.log import RLLog
from pretune.rl.policy_gradient import PolicyGradientTask
from pretune.rl.rewards import build_reward
from pretune.rl.sampling import disable_dropout, left_pad
from pretune.tasks.sft import render_chat
from pretune.train.session import Session
from pretune.train.setup import innermost_task

__all__ = ["PromptData", "evaluate_rl", "load_prompts", "run_rl"]


# ---------------------------------------------------------------------------------------------
# Prompts


def _first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def load_prompts(cfg: Any) -> list[str]:
    """Prompt texts: a JSONL/JSON file's `rl.prompt_field`, a TXT file's lines, or the first
    `rl.prompt_words` words of each text of any other source (e.g. bbc)."""
    source = cfg.data.source
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        if not path.is_file():
            raise DataError(f"data.source={source}: no such file")
        _, rows = read_json_rows(path, cfg.data.encoding_errors)
        field = cfg.rl.prompt_field
        prompts = []
        for number, row in enumerate(rows, start=1):
            if not isinstance(row.get(field), str):
                raise DataError(
                    f"{path}, row {number}: no '{field}' string (found: {', '.join(row)}); "
                    "set rl.prompt_field to the field that holds the prompt"
                )
            prompts.append(row[field])
    elif suffix == ".txt" and path.is_file():
        text = read_text_file(path, cfg.data.encoding_errors)
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        dataset = load_source(source, text_column=cfg.data.text_column, label_column=None)
        if "text" not in dataset.column_names:
            raise DataError(f"data.source={source} has no text column to take prompts from")
        prompts = [_first_words(t, cfg.rl.prompt_words) for t in dataset["text"][:] if t]
    prompts = list(dict.fromkeys(p for p in prompts if p.strip()))
    if not prompts:
        raise DataError(f"data.source={source}: no prompts")
    return prompts


def encode_prompts(tokenizer: Any, prompts: Sequence[str], chat: bool) -> list[list[int]]:
    """Token ids of each prompt, formatted with the chat template when `chat` (SFT policies)."""
    rows = []
    for prompt in prompts:
        if chat:
            prompt = render_chat(tokenizer, [{"role": "user", "content": prompt}], True)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:  # an empty prompt starts from the document separator, like generate
            ids = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0]
        rows.append(list(ids))
    return rows


@dataclass
class PromptData:
    """Prompts as the loop's TrainData: each batch is a set of prompts, left-padded on load."""

    rows: list[list[int]]
    batch_size: int
    seed: int
    pad_token_id: int

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        lengths = [len(r) for r in self.rows]
        batches = epoch_batches(
            lengths, self.batch_size, seed=self.seed, epoch=epoch, group_by_length=False
        )
        # A short last batch would change the number of samples per step: drop it.
        return [b for b in batches if len(b) == self.batch_size] or batches[:1]

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        return left_pad([self.rows[i] for i in indices], self.pad_token_id)


# ---------------------------------------------------------------------------------------------
# The run


def evaluate_rl(task: PolicyGradientTask, data: PromptData, seed: int, device: Any) -> dict:
    """Mean reward and KL of completions of held-out prompts, sampled with a fixed seed (the
    same prompts and random stream at every evaluation; the training stream is untouched)."""
    metrics = task.new_metrics()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed + 7919)
        for start in range(0, len(data.rows), data.batch_size):
            indices = list(range(start, min(start + data.batch_size, len(data.rows))))
            batch = {k: v.to(device) for k, v in data.load(indices).items()}
            metrics.update(task(batch))
    return metrics.compute()


def _split_prompts(prompts: list[str], cfg: Any) -> tuple[list[str], list[str]]:
    order = list(range(len(prompts)))
    random.Random(cfg.seed).shuffle(order)
    n_eval = min(cfg.rl.eval_prompts, max(0, len(prompts) - cfg.train.batch_size))
    held = [prompts[i] for i in order[:n_eval]]
    train = [prompts[i] for i in order[n_eval:]]
    if cfg.data.max_train_examples:
        train = train[: cfg.data.max_train_examples]
    return train, held


def _summary_stats(history: list[dict[str, Any]]) -> tuple[dict, dict]:
    rewards = [r.get("reward", 0.0) for r in history]
    kls = [r.get("kl", 0.0) for r in history]
    window = max(1, min(10, len(history) // 4))

    def mean(xs: list[float]) -> float:
        return round(sum(xs) / max(len(xs), 1), 5)

    reward = {
        "window": window,
        "first_steps_mean": mean(rewards[:window]),
        "last_steps_mean": mean(rewards[-window:]),
        "max_step_mean": round(max(rewards, default=0.0), 5),
    }
    kl = {
        "max": round(max(kls, default=0.0), 5),
        "mean": mean(kls),
        "last_steps_mean": mean(kls[-window:]),
    }
    return reward, kl


class _ReferenceOnDevice:
    """Moves the frozen reference policy to the device the policy trains on."""

    def __init__(self, reference: torch.nn.Module) -> None:
        self.reference = reference

    def fit_start(self, state: Any) -> None:
        self.reference.to(next(state.model.parameters()).device)


def _chat(cfg: Any, tokenizer: Any) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    chat = has_template if cfg.rl.chat_template is None else cfg.rl.chat_template
    if chat and not has_template:
        raise DataError("rl.chat_template=true but the policy's tokenizer has no chat template")
    return chat


def _rl_summary(cfg: Any, session: Session, trained: Any) -> dict[str, Any]:
    records = read_records(session.run_dir / "metrics.jsonl")
    history = [r for r in records if r.get("split") == "rl"]
    held = [r for r in records if r.get("split") == "validation"]
    evaluation = {"start": held[0], "end": held[-1]} if held else {}
    for record in evaluation.values():
        record.pop("split", None)
    reward_stats, kl_stats = _summary_stats(history)
    t, r = cfg.train, cfg.rl
    return {
        "task": "rl",
        "algorithm": "rloo",
        "reward": {"kind": "classifier" if cfg.reward.classifier else "keywords",
                   "label": cfg.reward.label, **reward_stats},
        "kl": kl_stats,
        "evaluation": evaluation,
        "samples": trained.state.step * t.batch_size * r.samples_per_prompt * t.grad_accum,
        "last_completions": innermost_task(trained.task).last_texts[:8],
        "parameters": sum(p.numel() for p in trained.model.parameters()),
    }  # fmt: skip


@recipe("rl")
def run_rl(cfg: Any, session: Session) -> dict[str, Any]:
    """RL fine-tune `model.init_from` against `reward:`; saves `model/`; returns the summary."""
    check_rl_config(cfg)
    reward = build_reward(cfg.reward)  # fail fast on a bad classifier/label, before sampling
    model, tokenizer, _ = load_causal_lm(cfg.model.init_from or "")
    chat = _chat(cfg, tokenizer)
    train_prompts, held_prompts = _split_prompts(load_prompts(cfg), cfg)
    disable_dropout(model)
    reference = copy.deepcopy(model)
    r, t, pad = cfg.rl, cfg.train, tokenizer.pad_token_id

    def make_task(policy: Any) -> PolicyGradientTask:
        return PolicyGradientTask(
            policy, reference, reward, tokenizer, samples_per_prompt=r.samples_per_prompt,
            max_new_tokens=r.max_new_tokens, temperature=r.temperature, top_k=r.top_k,
            kl_coef=r.kl_coef,
        )  # fmt: skip

    def prompt_data(prompts: list[str]) -> PromptData:
        return PromptData(encode_prompts(tokenizer, prompts, chat), t.batch_size, cfg.seed, pad)

    session.log(
        f"rl: {len(train_prompts)} training / {len(held_prompts)} held-out prompts, "
        f"{t.batch_size} prompts x {r.samples_per_prompt} samples per step, "
        f"{r.max_new_tokens} new tokens, kl_coef {r.kl_coef}" + (", chat template" if chat else "")
    )
    evaluate = None
    if held_prompts:
        held = prompt_data(held_prompts)

        def evaluate(task: Any, device: Any) -> dict[str, Any]:
            return evaluate_rl(innermost_task(task), held, cfg.seed, device)

    handlers = [_ReferenceOnDevice(reference), RLLog(session.run_dir / "metrics.jsonl")]
    trained = session.train(
        apply_model_settings(model, cfg.model), make_task, prompt_data(train_prompts),
        evaluate=evaluate, handlers=handlers, evaluate_first=True,
    )  # fmt: skip
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return _rl_summary(cfg, session, trained)

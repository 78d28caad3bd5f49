"""What `pretune <recipe>` prints when a run ends: the numbers that recipe is judged by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pretune.cli.output import print_finetune_summary

__all__ = ["PRINTERS", "print_generic_summary", "print_results"]


def print_pretrain_summary(summary: dict[str, Any]) -> None:
    """Validation metrics, padding and speed of a finished pre-training run."""
    val = summary.get("validation") or {}
    data, timing = summary["data"], summary["timing"]
    if val:
        print(
            f"validation ({summary['task']}): loss {val['loss']:.4f}   "
            f"{'masked-token' if summary['task'] == 'mlm' else 'next-token'} accuracy "
            f"{val['accuracy']:.4f}   perplexity {val['perplexity']:.2f}"
        )
    print(
        f"padding fraction {data['padding_fraction']:.2%} "
        f"({'packed' if data['packing'] else 'unpacked'}); {summary['steps']} steps in "
        f"{timing['train_seconds']:.1f}s ({timing['real_tokens_per_s']:.0f} real tokens/s)"
    )
    print(f"run saved in {summary['run_dir']}")


def print_images_summary(summary: dict[str, Any]) -> None:
    """Test scores (or the MIM loss), the robustness table and where the run is."""
    test = summary.get("test") or {}
    if summary["task"] == "mim":
        if test:
            print(f"test reconstruction loss (masked patches, MSE): {test['loss']:.4f}")
    elif test:
        print(
            f"test accuracy {test['accuracy']:.4f}   macro F1 {test['macro_f1']:.4f}   "
            f"({test.get('count', '?')} images)"
        )
    robustness = summary.get("robustness")
    if robustness:
        print(f"robustness (L-inf, pixels 0..1; PGD {robustness['pgd_steps']} steps):")
        print(f"  clean           accuracy {robustness['clean_accuracy']:.4f}")
        for row in robustness["table"]:
            print(
                f"  epsilon {row['epsilon']:<7g} FGSM {row['fgsm_accuracy']:.4f}   "
                f"PGD {row['pgd_accuracy']:.4f}"
            )
    timing = summary["timing"]
    print(f"{summary['steps']} steps in {timing['train_seconds']:.1f}s")
    print(f"run saved in {summary['run_dir']}")


def print_multitask_summary(summary: dict[str, Any]) -> None:
    """One line of test metrics per task, then where the heads were saved."""
    for name, task in summary["tasks"].items():
        test = task.get("test") or {}
        if task["kind"] == "classify" and test:
            shown = f"accuracy {test['accuracy']:.4f}   macro-F1 {test['macro_f1']:.4f}"
        elif test:
            shown = f"masked-token accuracy {test['accuracy']:.4f}   loss {test['loss']:.4f}"
        else:
            shown = "no test split"
        print(f"test {name} ({task['kind']}, weight {task['weight']:g}): {shown}")
    timing = summary["timing"]
    print(f"{summary['steps']} steps in {timing['train_seconds']:.1f}s")
    print(f"run saved in {summary['run_dir']} (one model folder per head under model/)")


def print_ner_summary(summary: dict[str, Any]) -> None:
    test = summary.get("test") or {}
    if test:
        print(
            f"test entities: precision {test['precision']:.4f}  recall {test['recall']:.4f}  "
            f"F1 {test['f1']:.4f}  (macro F1 {test['macro_f1']:.4f}, {test['entities']} entities)"
        )
        for kind, s in test["per_class"].items():
            print(
                f"  {kind:<16} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
                f"support {s['support']}"
            )
    print(f"run saved in {summary['run_dir']}")


def print_distill_summary(summary: dict[str, Any]) -> None:
    """Student vs teacher: accuracy, size and speed."""
    d = summary.get("distillation")
    if not d:
        print(f"run saved in {summary['run_dir']} (no test split: no comparison)")
        return
    test, params, disk, speed = d["test"], d["parameters"], d["disk_mb"], d["speed"]
    print(
        f"test accuracy: student {test['student_accuracy']:.4f}   teacher "
        f"{test['teacher_accuracy']:.4f}   retained {test['retained']:.1%}   "
        f"agreement {test['agreement']:.1%} ({test['count']} examples)"
    )
    print(
        f"size: student {params['student'] / 1e6:.1f}M parameters ({disk['student']:.1f} MB), "
        f"teacher {params['teacher'] / 1e6:.1f}M ({disk['teacher']:.1f} MB); "
        f"{d['layers']['student']} vs {d['layers']['teacher']} layers"
    )
    print(
        f"inference: student {speed['student_examples_per_s']:.1f} examples/s, teacher "
        f"{speed['teacher_examples_per_s']:.1f} examples/s: {speed['speedup']:.2f}x faster"
    )
    print(f"run saved in {summary['run_dir']}")


def _mean_std(stat: dict[str, Any]) -> str:
    # std is None after a single draw: no spread was measured, so none is shown.
    return f"{stat['mean']:.4f}" + ("" if stat["std"] is None else f" ± {stat['std']:.4f}")


def print_results(summary: dict[str, Any], what: str) -> None:
    """One line per method/setting: accuracy and macro-F1 as mean ± std."""
    for name, stats in summary["results"].items():
        acc, f1 = stats["accuracy"], stats.get("macro_f1")
        line = f"{name:<28} {what}accuracy {_mean_std(acc)}"
        if f1:
            line += f"   macro-F1 {_mean_std(f1)}"
        print(line)
    print(f"run saved in {summary['run_dir']}")


def print_sft_summary(summary: dict[str, Any]) -> None:
    val = summary.get("validation") or {}
    if val:
        print(
            f"validation (response tokens): loss {val['loss']:.4f}   next-token accuracy "
            f"{val['accuracy']:.4f}   perplexity {val['perplexity']:.2f}"
        )
    print(
        f"{summary['steps']} steps in {summary['timing']['train_seconds']:.1f}s; "
        f'try: pretune generate {summary["run_dir"]} "your prompt"'
    )
    print(f"run saved in {summary['run_dir']}")


def print_rl_summary(summary: dict[str, Any]) -> None:
    first, last = summary["reward"]["first_steps_mean"], summary["reward"]["last_steps_mean"]
    print(
        f"training reward (mean of first / last {summary['reward']['window']} steps): "
        f"{first:.4f} -> {last:.4f}   KL: max {summary['kl']['max']:.4f}, "
        f"last {summary['kl']['last_steps_mean']:.4f}"
    )
    for key in ("start", "end"):
        ev = summary["evaluation"].get(key)
        if ev:
            print(f"held-out prompts ({key}): reward {ev['reward']:.4f}   KL {ev['kl']:.4f}")
    print(f"run saved in {summary['run_dir']}")


def print_qa_summary(summary: dict[str, Any]) -> None:
    test = summary.get("test") or {}
    if test:
        print(
            f"test: exact match {test['exact_match']:.2f}  F1 {test['f1']:.2f}  "
            f"({test['count']} questions, {test['windows']} windows)"
        )
    print(f"run saved in {summary['run_dir']}")


def print_zeroshot_summary(summary: dict[str, Any]) -> None:
    for name, r in summary["results"].items():
        print(f"{name:<30} accuracy {r['accuracy']:.4f}   macro-F1 {r['macro_f1']:.4f}")
    print(f"run saved in {summary['run_dir']}")


def print_fewshot_summary(summary: dict[str, Any]) -> None:
    draws = summary["draws"]
    print_results(summary, f"{summary['shots']} shots, {draws} draw{'' if draws == 1 else 's'}: ")


def print_metalearn_summary(summary: dict[str, Any]) -> None:
    print_results(summary, f"held-out {summary['ways_test']}-way {summary['shots']}-shot: ")


def print_generic_summary(summary: dict[str, Any]) -> None:
    """A recipe without a printer of its own: its test metrics, then where the run is."""
    test = summary.get("test") or {}
    shown = [f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float)][:6]
    if shown:
        print("test: " + "   ".join(shown))
    print(f"run saved in {summary['run_dir']}")


# What `pretune <recipe>` prints at the end of a run, by recipe.
PRINTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "quickstart": print_finetune_summary,
    "finetune": print_finetune_summary,
    "pretrain": print_pretrain_summary,
    "images": print_images_summary,
    "multitask": print_multitask_summary,
    "ner": print_ner_summary,
    "qa": print_qa_summary,
    "distill": print_distill_summary,
    "sft": print_sft_summary,
    "rl": print_rl_summary,
    "fewshot": print_fewshot_summary,
    "zeroshot": print_zeroshot_summary,
    "metalearn": print_metalearn_summary,
}

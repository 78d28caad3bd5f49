"""`pretune pretrain`: both objectives end to end on tiny data, the hand-over to fine-tuning,
generation, and the bad inputs (empty/short corpus, vocabulary mismatch, non-LM checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from helpers import tiny_overrides, write_csv
from pretune.catalog import load_recipe_config
from pretune.cli.main import main
from pretune.config import load_config
from pretune.deploy.generate import generate_text
from pretune.errors import ConfigError, DataError
from pretune.recipes.finetune import run_finetune
from pretune.recipes.pretrain import run_pretrain

pytestmark = pytest.mark.slow


def pretrain_cfg(data: Path, out: Path, *extra: str):
    overrides = [
        f"data.source={data}",
        f"output_dir={out}",
        "model.max_length=32",
        "train.batch_size=8",
        "train.lr=2e-3",
        "train.warmup_ratio=0",
        "train.max_steps=6",
        "train.log_every=2",
        "train.num_threads=1",
        "pretrain.vocab_size=400",
        *extra,
    ]
    return load_recipe_config("pretrain", None, overrides)


def _quiet(*_: object) -> None:
    pass


def test_mlm_from_scratch_then_finetune_from_the_run(tiny_csv, tmp_path):
    summary = run_pretrain(pretrain_cfg(tiny_csv, tmp_path, "name=mlm"), log=_quiet)
    run = Path(summary["run_dir"])
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "model", "tokenizer"):
        assert (run / name).exists(), name
    assert summary["data"]["padding_fraction"] == 0.0 and summary["steps"] == 6
    assert 0 <= summary["validation"]["accuracy"] <= 1 and summary["validation"]["loss"] > 0
    assert summary["tokenizer"]["type"] == "wordpiece"
    model = AutoModelForMaskedLM.from_pretrained(str(run / "model"))
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128  # tiny
    AutoTokenizer.from_pretrained(str(run / "model"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r["split"] == "validation" and "perplexity" in r for r in records)

    cfg = load_config(
        None,
        tiny_overrides(
            tiny_csv, run, tmp_path, "name=ft", "train.max_steps=4", "model.max_length=32"
        ),
    )
    finetuned = run_finetune(cfg, log=_quiet)
    assert 0 <= finetuned["test"]["accuracy"] <= 1


def test_clm_from_scratch_generates_text(tiny_csv, tmp_path):
    summary = run_pretrain(
        pretrain_cfg(tiny_csv, tmp_path, "name=clm", "objective=clm"), log=_quiet
    )
    run = Path(summary["run_dir"])
    assert summary["tokenizer"]["type"] == "bpe" and summary["validation"]["perplexity"] > 1
    model = AutoModelForCausalLM.from_pretrained(str(run / "model"))
    assert model.config.model_type == "gpt2"
    text = generate_text(run, "the team", max_new_tokens=8, temperature=0.8, top_k=20, seed=3)
    assert text.startswith("the team") and len(text) > len("the team")
    assert text == generate_text(
        run, "the team", max_new_tokens=8, temperature=0.8, top_k=20, seed=3
    )
    # continued causal pre-training from the run (its tokenizer and GPT-2 weights)
    more = run_pretrain(
        pretrain_cfg(
            tiny_csv,
            tmp_path,
            "name=clm2",
            "objective=clm",
            f"model.init_from={run}",
            "train.max_steps=2",
        ),
        log=_quiet,
    )
    assert more["tokenizer"]["vocab_size"] == len(AutoTokenizer.from_pretrained(str(run / "model")))


def test_unpacked_mode_reports_padding_and_whole_word_masking_runs(tiny_csv, tmp_path):
    cfg = pretrain_cfg(
        tiny_csv,
        tmp_path,
        "pretrain.packing=false",
        "pretrain.whole_word_masking=true",
        "train.max_steps=2",
    )
    summary = run_pretrain(cfg, log=_quiet)
    assert summary["data"]["padding_fraction"] > 0
    assert summary["data"]["rows"]["train"] == summary["data"]["documents"]["train"]


def test_continued_pretraining_from_a_checkpoint(tiny_csv, tiny_bert, tmp_path):
    cfg = pretrain_cfg(tiny_csv, tmp_path, f"model.init_from={tiny_bert}", "train.max_steps=2")
    summary = run_pretrain(cfg, log=_quiet)
    model = AutoModelForMaskedLM.from_pretrained(str(Path(summary["run_dir"]) / "model"))
    assert model.config.hidden_size == 32  # the checkpoint's size, not a preset


def test_vocabulary_mismatch_is_a_clear_error(tiny_csv, tiny_bert, tmp_path):
    bigger = AutoTokenizer.from_pretrained(str(tiny_bert))
    bigger.add_tokens([f"newword{i}" for i in range(50)])
    bigger.save_pretrained(str(tmp_path / "tok"))
    cfg = pretrain_cfg(
        tiny_csv, tmp_path, f"model.init_from={tiny_bert}", f"pretrain.tokenizer={tmp_path / 'tok'}"
    )
    with pytest.raises(ConfigError, match="vocabulary mismatch"):
        run_pretrain(cfg, log=_quiet)


def test_checkpoint_that_is_not_a_masked_lm_is_a_clear_error(tiny_csv, tiny_bert, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=500, n_embd=16, n_layer=1, n_head=2)).save_pretrained(
        str(folder)
    )
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(folder))
    cfg = pretrain_cfg(tiny_csv, tmp_path, f"model.init_from={folder}")
    with pytest.raises(ConfigError, match="cannot be loaded as a masked language model"):
        run_pretrain(cfg, log=_quiet)


def test_empty_and_too_short_corpus_are_clear_errors(tmp_path):
    empty = write_csv(tmp_path / "empty.csv", [("  ", "a"), ("", "b")])
    with pytest.raises(DataError, match="empty"):
        run_pretrain(pretrain_cfg(empty, tmp_path), log=_quiet)
    short = write_csv(tmp_path / "short.csv", [("a tiny corpus", "a"), ("of two rows", "b")])
    cfg = pretrain_cfg(
        short,
        tmp_path,
        "data.val_fraction=0",
        "pretrain.vocab_size=40",
        "pretrain.tokenizer_type=wordpiece",
    )
    with pytest.raises(DataError, match="fewer than one window"):
        run_pretrain(cfg, log=_quiet)


def test_cli_config_validation(capsys, tiny_csv):
    assert (
        main(["pretrain", "objective=mlm", "data.source=bbc", "pretrain.mlm_probabilty=0.2"]) == 2
    )
    assert "did you mean 'pretrain.mlm_probability'" in capsys.readouterr().err
    assert main(["pretrain", "pretrain.preset=tiny", "model.init_from=minilm"]) == 2
    assert "set only one" in capsys.readouterr().err
    assert main(["pretrain", "objective=clm", "pretrain.whole_word_masking=true"]) == 2
    assert main(["pretrain", "pretrain.preset=huge"]) == 2
    assert "unknown model preset 'huge'" in capsys.readouterr().err
    assert main(["config", "show", "pretrain", "objective=clm"]) == 0
    assert "pretrain.mlm_probability" in capsys.readouterr().out


def test_generate_refuses_a_masked_lm_run(tiny_bert, capsys):
    assert main(["generate", str(tiny_bert), "hello"]) == 2
    assert "not a causal LM" in capsys.readouterr().err

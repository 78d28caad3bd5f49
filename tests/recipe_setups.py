"""A tiny, seconds-long setup for every recipe in the catalog that trains.

`SETUPS[name](files)` returns (recipe, overrides): the data and model overrides that make the
recipe train a tiny model on tiny data, with a validation split. The generic tests
(`tests/recipes/test_every_recipe.py`, `tests/techniques/test_techniques_on_tasks.py`) run
every setup; a new recipe needs one entry here and gets every generic test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers import make_rows, write_csv
from toy_tasks import toy_conll, toy_squad


@dataclass
class TinyFiles:
    """What the setups build on (session fixtures) and a folder for their own files."""

    folder: Path
    csv: Path  # tests/conftest.py: tiny_csv (3 topics)
    bert: Path  # tiny_bert (2 layers, 32 wide, WordPiece)
    lm: Path  # tiny GPT-2 (tiny_causal_lm.py)
    teacher: Path | None = None  # a finished tiny finetune run (for distill)


Setup = Callable[[TinyFiles], tuple[str, list[str]]]

# No dropout: one process and two processes then compute the same thing (up to rounding).
BERT_NO_DROPOUT = ("model.hidden_dropout=0", "model.attention_dropout=0")


def _finetune(f: TinyFiles) -> tuple[str, list[str]]:
    return "finetune", [f"data.source={f.csv}", f"model.init_from={f.bert}",
                        "model.max_length=32", "train.batch_size=8", *BERT_NO_DROPOUT]  # fmt: skip


def _text_file(f: TinyFiles) -> Path:
    words = ["the", "team", "won", "match", "on", "saturday", "with", "a", "late", "goal",
             "after", "rain"]  # fmt: skip
    path = f.folder / "text.txt"
    path.write_text("\n".join(" ".join(words[i:] + words[:i]) for i in range(len(words))))
    return path


def _pretrain(objective: str) -> Setup:
    def setup(f: TinyFiles) -> tuple[str, list[str]]:
        model = f.bert if objective == "mlm" else f.lm
        return "pretrain", [f"data.source={_text_file(f)}", f"model.init_from={model}",
                            "model.max_length=32", "train.batch_size=4",
                            "data.val_fraction=0.25", f"objective={objective}"]  # fmt: skip

    return setup


def _pretrain_from_scratch(f: TinyFiles) -> tuple[str, list[str]]:
    # A tokenizer trained on the text and a preset model; a test split held out. BPE: the
    # `tokenizers` WordPiece and Unigram trainers break ties in hash-map order, so two runs
    # would not share a vocabulary (a resumed run reuses the one its run folder saved).
    return "pretrain", [f"data.source={_text_file(f)}", "pretrain.preset=nano", "objective=clm",
                        "pretrain.tokenizer_type=bpe", "pretrain.vocab_size=300",
                        "pretrain.lowercase=true", "model.max_length=32", "train.batch_size=4",
                        "data.val_fraction=0.25", "data.test_fraction=0.25"]  # fmt: skip


def _ner(f: TinyFiles) -> tuple[str, list[str]]:
    data = toy_conll(f.folder / "toy.conll", 40, seed=0)
    return "ner", [f"data.source={data}", f"model.init_from={f.bert}", "model.max_length=32",
                   "train.batch_size=8", *BERT_NO_DROPOUT]  # fmt: skip


def _qa(f: TinyFiles) -> tuple[str, list[str]]:
    data = toy_squad(f.folder / "toy.json", 40, seed=0)
    return "qa", [f"data.source={data}", f"model.init_from={f.bert}", "model.max_length=32",
                  "qa.stride=8", "train.batch_size=8", *BERT_NO_DROPOUT]  # fmt: skip


# A ViT: LoRA, layer-wise LR and unfreezing need its named attention layers.
TINY_VIT = ["model.arch=vit", "model.hidden_size=16", "model.num_layers=2", "model.num_heads=2",
            "model.intermediate_size=32", "model.patch_size=4", "data.max_train_examples=64",
            "train.batch_size=16"]  # fmt: skip


def _images(f: TinyFiles) -> tuple[str, list[str]]:
    augment = ["image.augment.shift=1", "image.augment.hflip=0.5", "image.augment.rotate=5",
               "image.augment.cutout=2", "image.augment.noise=0.01"]  # fmt: skip
    return "images", [*TINY_VIT, *augment, "image.robustness.epsilons=[0.1]",
                      "image.robustness.pgd_steps=1"]  # fmt: skip


def _images_cnn(f: TinyFiles) -> tuple[str, list[str]]:
    return "images", ["model.arch=cnn", "model.cnn_widths=[4,8]", "data.max_train_examples=64",
                      "train.batch_size=16", "image.robustness.epsilons=[]",
                      "image.adversarial_training.method=fgsm",
                      "image.adversarial_training.epsilon=0.05",
                      "image.adversarial_training.steps=1"]  # fmt: skip


def _mim(f: TinyFiles) -> tuple[str, list[str]]:
    return "images", [*TINY_VIT, "objective=mim"]


def _sft(f: TinyFiles) -> tuple[str, list[str]]:
    pairs = f.folder / "pairs.jsonl"
    rows = [{"prompt": "what is the colour of the sky?", "response": "blue"},
            {"prompt": "what is the colour of grass?", "response": "green"}] * 4  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return "sft", [f"data.source={pairs}", f"model.init_from={f.lm}", "data.val_fraction=0.25",
                   "model.max_length=32", "train.batch_size=4"]  # fmt: skip


def _rl(f: TinyFiles) -> tuple[str, list[str]]:
    prompts = f.folder / "prompts.txt"
    prompts.write_text("the match\nwhat is\nthe sky is\nthe colour of\nthe goal\nthe ball\n")
    return "rl", [f"data.source={prompts}", f"model.init_from={f.lm}", "reward.keywords=[goal]",
                  "rl.max_new_tokens=4", "rl.samples_per_prompt=2", "rl.eval_prompts=2",
                  "train.batch_size=2"]  # fmt: skip


def _distill(f: TinyFiles) -> tuple[str, list[str]]:
    assert f.teacher is not None, "distill needs a teacher run"
    return "distill", [f"data.source={f.csv}", f"distill.teacher={f.teacher}",
                       "distill.student=teacher:layers=1", "model.max_length=32",
                       "train.batch_size=8", "distill.speed_rows=8", "distill.speed_repeats=1",
                       *BERT_NO_DROPOUT]  # fmt: skip


def _multitask(f: TinyFiles) -> tuple[str, list[str]]:
    return "multitask", [f"data.source={f.csv}", f"model.init_from={f.bert}",
                         "model.max_length=32", "train.batch_size=8",
                         "tasks=[{name: topic, kind: classify}, {name: mlm, kind: mlm, "
                         "weight: 0.5}]", *BERT_NO_DROPOUT]  # fmt: skip


SETUPS: dict[str, Setup] = {
    "finetune": _finetune,
    "pretrain-mlm": _pretrain("mlm"),
    "pretrain-clm": _pretrain("clm"),
    "pretrain-scratch": _pretrain_from_scratch,
    "images": _images,
    "images-cnn": _images_cnn,
    "images-mim": _mim,
    "ner": _ner,
    "qa": _qa,
    "distill": _distill,
    "multitask": _multitask,
    "sft": _sft,
    "rl": _rl,
}


# The transfer recipes embed with a frozen sentence encoder (the tiny BERT, mean-pooled) and
# train, if at all, once per draw or held-out set: they do not train through the session, so
# the session tests leave them out; the schema test runs these to see which keys they read.
def _transfer(recipe: str, f: TinyFiles, *extra: str) -> tuple[str, list[str]]:
    return recipe, [f"data.source={f.csv}", f"model.init_from={f.bert}", "model.max_length=16",
                    f"cache_dir={f.folder / 'embeddings'}", "train.num_threads=1",
                    *extra]  # fmt: skip


def _fewshot_setfit(f: TinyFiles) -> tuple[str, list[str]]:
    return _transfer("fewshot", f, "method=setfit", "shots=2", "draws=1", "pairs_per_example=1",
                     "train.batch_size=4", "train.max_steps=2")  # fmt: skip


def _fewshot_protonet(f: TinyFiles) -> tuple[str, list[str]]:
    return _transfer("fewshot", f, "method=protonet", "shots=2", "draws=1", "baseline=false",
                     "distance=euclidean")  # fmt: skip


def _zeroshot(f: TinyFiles) -> tuple[str, list[str]]:
    return _transfer("zeroshot", f, "labels=[sport, tech]", "label_text={tech: technology}",
                     "descriptions={sport: games}", "self_train_rounds=1",
                     "unlabelled_max=20")  # fmt: skip


def _four_classes(f: TinyFiles) -> Path:
    # Meta-learning holds two classes out and trains on episodes of two others: four classes.
    path = f.folder / "four.csv"
    if f.folder != Path() and not path.exists():  # (an empty TinyFiles only asks the recipe)
        weather = [(f"{t} weather rain sun cloud", "weather") for t, _ in make_rows(4, 2)]
        write_csv(path, make_rows(4) + weather)
    return path


def _metalearn(method: str) -> Setup:
    def setup(f: TinyFiles) -> tuple[str, list[str]]:
        recipe, overrides = _transfer("metalearn", f, f"method={method}", "episodes=2",
                                      "draws=1", "rotations=1", "shots=1", "queries=1",
                                      "projection_dim=8", "inner_steps=1", "test_fraction=0.25",
                                      "pool_per_class=3")  # fmt: skip
        return recipe, [*overrides, f"data.source={_four_classes(f)}"]

    return setup


NO_SESSION_SETUPS: dict[str, Setup] = {
    "fewshot-setfit": _fewshot_setfit,
    "fewshot-protonet": _fewshot_protonet,
    "zeroshot": _zeroshot,
    "metalearn-protonet": _metalearn("protonet"),
    "metalearn-reptile": _metalearn("reptile"),
}

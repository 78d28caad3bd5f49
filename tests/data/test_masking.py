"""MLM masking: the 80/10/10 rule, never special tokens, whole words, reproducible per seed."""

from __future__ import annotations

import torch

from pretune.data.masking import IGNORE_INDEX, CausalLabels, MLMMasking, mask_tokens

MASK, VOCAB = 4, 1000


def _mask(ids, maskable, seed=0, **kw):
    return mask_tokens(
        ids,
        maskable,
        mask_token_id=MASK,
        vocab_size=VOCAB,
        generator=torch.Generator().manual_seed(seed),
        **kw,
    )


def test_rates_follow_the_80_10_10_rule():
    ids = torch.randint(10, VOCAB, (200, 100), generator=torch.Generator().manual_seed(0))
    masked, labels = _mask(ids, torch.ones_like(ids, dtype=torch.bool))
    chosen = labels != IGNORE_INDEX
    assert abs(chosen.float().mean().item() - 0.15) < 0.01
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original tokens
    as_mask = (masked == MASK) & chosen
    kept = (masked == ids) & chosen
    n = chosen.sum().item()
    assert abs(as_mask.sum().item() / n - 0.8) < 0.02
    # random replacements may hit the original token (1/1000): "kept" is 10% + a hair
    assert abs(kept.sum().item() / n - 0.1) < 0.02
    assert torch.equal(masked[~chosen], ids[~chosen])  # untouched elsewhere


def test_never_masks_special_tokens_or_padding_and_never_empty():
    ids = torch.tensor([[2, 11, 12, 3, 0, 0]])
    maskable = torch.tensor([[False, True, True, False, False, False]])
    for seed in range(30):
        masked, labels = _mask(ids, maskable, seed=seed, probability=0.01)
        assert (labels[~maskable] == IGNORE_INDEX).all()
        assert torch.equal(masked[~maskable], ids[~maskable])
        assert (labels != IGNORE_INDEX).sum() >= 1  # at least one target: no empty loss


def test_same_generator_same_masks_other_seed_other_masks():
    ids = torch.randint(10, VOCAB, (8, 64), generator=torch.Generator().manual_seed(0))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    a, b, c = _mask(ids, maskable, 5), _mask(ids, maskable, 5), _mask(ids, maskable, 6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_whole_word_masking_masks_words_together():
    ids = torch.randint(10, VOCAB, (50, 60), generator=torch.Generator().manual_seed(0))
    # words of 3 tokens: starts at 0, 3, 6, ...
    starts = (torch.arange(60) % 3 == 0).expand(50, 60)
    _, labels = _mask(
        ids, torch.ones_like(ids, dtype=torch.bool), word_starts=starts, probability=0.3
    )
    chosen = (labels != IGNORE_INDEX).view(50, 20, 3)
    assert chosen.any()
    assert (chosen.all(-1) == chosen.any(-1)).all()  # a word is chosen entirely or not at all


def test_mlm_masking_transform_and_causal_labels():
    batch = {
        "input_ids": torch.tensor([[2, 11, 12, 13, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 0]]),
        "word_starts": torch.ones(1, 6, dtype=torch.bool),
    }
    out = MLMMasking(MASK, VOCAB, special_ids=(0, 2, 3), probability=0.99)(
        batch, torch.Generator().manual_seed(0)
    )
    assert "word_starts" not in out
    assert (out["labels"][0, [0, 4, 5]] == IGNORE_INDEX).all()
    assert (out["labels"][0, 1:4] != IGNORE_INDEX).all()
    causal = CausalLabels()(batch, torch.Generator())
    assert causal["labels"].tolist() == [[2, 11, 12, 13, 3, IGNORE_INDEX]]

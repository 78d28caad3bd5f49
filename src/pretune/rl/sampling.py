"""Sampling completions from a causal LM and scoring their tokens' log-probabilities.

Prompts are left-padded so that every completion starts at the same column; positions are
counted from each row's first real token (as `generate` does), so the scoring forward pass
sees exactly the inputs the tokens were sampled from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "Samples",
    "completion_mask",
    "disable_dropout",
    "left_pad",
    "sample_completions",
    "sequence_kl",
    "token_logprobs",
]


def left_pad(rows: Sequence[Sequence[int]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (B, T), padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return {"input_ids": ids, "attention_mask": mask}


def disable_dropout(model: torch.nn.Module) -> None:
    """Set every dropout to 0: sampled tokens and their scored log-probabilities must come from
    the same distribution (the policy gradient assumes it)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def completion_mask(completions: torch.Tensor, eos_token_id: int | None) -> torch.Tensor:
    """(N, L) 1 for the tokens of each completion up to and including its first EOS."""
    if eos_token_id is None:
        return torch.ones_like(completions)
    is_eos = (completions == eos_token_id).long()
    after_eos = (is_eos.cumsum(1) - is_eos) > 0
    return (~after_eos).long()


@dataclass
class Samples:
    """Prompts (repeated k times) followed by their sampled completions."""

    sequences: torch.Tensor  # (N, P + L) left-padded prompt, then the completion
    attention_mask: torch.Tensor  # (N, P + L)
    mask: torch.Tensor  # (N, L) completion tokens that count (up to the first EOS)
    prompt_length: int  # P

    @property
    def completions(self) -> torch.Tensor:
        return self.sequences[:, self.prompt_length :]


def sample_completions(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    samples_per_prompt: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    pad_token_id: int,
    eos_token_id: int | None,
) -> Samples:
    """`samples_per_prompt` completions of each left-padded prompt (rows grouped by prompt)."""
    ids = input_ids.repeat_interleave(samples_per_prompt, 0)
    mask = attention_mask.repeat_interleave(samples_per_prompt, 0)
    model = getattr(model, "module", model)  # DDP keeps generate on the inner model
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=mask,
            do_sample=True,
            temperature=temperature,
            top_k=top_k,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
        )
    prompt_length = ids.shape[1]
    completions = out[:, prompt_length:]
    if completions.shape[1] < max_new_tokens:  # every row stopped early: pad to full width
        pad = completions.new_full((len(out), max_new_tokens - completions.shape[1]), pad_token_id)
        completions = torch.cat([completions, pad], 1)
    sequences = torch.cat([ids, completions], 1)
    full_mask = torch.cat([mask, torch.ones_like(completions)], 1)
    return Samples(sequences, full_mask, completion_mask(completions, eos_token_id), prompt_length)


def token_logprobs(
    model: torch.nn.Module, samples: Samples, full: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """(N, L) log-probability of each completion token under `model` (with grad if enabled);
    with `full`, also the (N, L, V) log-distributions at those positions."""
    attention = samples.attention_mask
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=samples.sequences, attention_mask=attention, position_ids=positions
    ).logits
    # Position t predicts token t + 1: the completion's logits start one column before it.
    logits = logits[:, samples.prompt_length - 1 : -1].float()
    logp = F.log_softmax(logits, dim=-1)
    tokens = logp.gather(-1, samples.completions.unsqueeze(-1)).squeeze(-1)
    return (tokens, logp) if full else tokens


def sequence_kl(
    policy_logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """(N,) exact KL(policy || reference) summed over each completion's positions: at every
    position the full next-token distributions are compared (given the sampled prefix), which
    is never negative and far less noisy than the sampled log-ratio."""
    per_token = (policy_logp.exp() * (policy_logp - ref_logp)).sum(-1)
    return (per_token * mask).sum(1)

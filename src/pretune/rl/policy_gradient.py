"""RL fine-tuning of a causal LM as a task of the one loop: REINFORCE with a leave-one-out
baseline (RLOO, Ahmadian et al. 2024) and a KL penalty to a frozen reference model.

Each batch is a set of prompts. The task, per batch:

    1. samples k completions per prompt from the policy (no gradient);
    2. scores them with the reward: s_i (e.g. a classifier's P(topic | completion));
    3. computes each completion's log-probability under the policy (with gradient) and the
       reference (frozen): KL_i = sum_t [log pi(y_t) - log ref(y_t)], the usual single-sample
       estimate of KL(pi || ref) for that sequence (the logged "kl" is the exact one: full
       next-token distributions compared at each sampled position, summed);
    4. the KL-penalised reward R_i = s_i - beta * KL_i, and its advantage against the mean of
       the k - 1 other completions of the same prompt: A_i = R_i - mean_{j != i} R_j;
    5. loss = -mean_i(A_i * log pi(y_i)),  log pi(y_i) = sum_t log pi(y_t).

The gradient of that loss is the REINFORCE estimate of -grad E[s - beta * KL], the objective
of RLHF-style fine-tuning; the leave-one-out baseline keeps it unbiased while cutting its
variance. The loop sees an ordinary `{"loss", "logits"}` task; reward and KL ride along in the
outputs for the RL log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from pretune.metrics.streaming import StreamingMeans
from pretune.rl.rewards import Reward
from pretune.rl.sampling import sample_completions, sequence_kl, token_logprobs

__all__ = ["PolicyGradientTask", "RLMetrics", "policy_gradient_loss", "rloo_advantages"]


def rloo_advantages(rewards: torch.Tensor, samples_per_prompt: int) -> torch.Tensor:
    """(N,) reward minus the mean reward of the other samples of the same prompt.

    Rows are grouped by prompt: rows [p*k, (p+1)*k) are the k samples of prompt p.
    """
    k = samples_per_prompt
    grouped = rewards.view(-1, k)
    baseline = (grouped.sum(1, keepdim=True) - grouped) / (k - 1)
    return (grouped - baseline).view(-1)


def policy_gradient_loss(
    logprobs: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor
) -> torch.Tensor:
    """-mean_i(A_i * sum_t log pi(y_it)): minimising it makes high-advantage completions likelier.

    Args:
        logprobs: (N, L) log-probability of each sampled token (with gradient).
        mask: (N, L) 1 for tokens that belong to the completion.
        advantages: (N,) treated as constants (no gradient flows through them).
    """
    sequence_logp = (logprobs * mask).sum(1)
    return -(advantages.detach() * sequence_logp).mean()


@dataclass
class PolicyGradientTask:
    """Args:
    model: the policy, a `*ForCausalLM` model (trained).
    reference: the frozen reference model (the policy's starting weights).
    reward: (prompt texts, completion texts) -> (N,) scores.
    tokenizer: the policy's tokenizer (decodes completions for the reward).
    samples_per_prompt: k >= 2 completions per prompt (the leave-one-out baseline needs two).
    max_new_tokens, temperature, top_k: sampling settings.
    kl_coef: beta, the weight of the KL penalty in the reward.
    """

    model: torch.nn.Module
    reference: torch.nn.Module
    reward: Reward
    tokenizer: Any
    samples_per_prompt: int = 4
    max_new_tokens: int = 24
    temperature: float = 1.0
    top_k: int = 0
    kl_coef: float = 0.05
    last_texts: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 2:
            raise ValueError("samples_per_prompt must be >= 2 for the leave-one-out baseline")
        self.reference.eval()
        self.reference.requires_grad_(False)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        samples = sample_completions(
            self.model,
            batch["input_ids"],
            batch["attention_mask"],
            samples_per_prompt=self.samples_per_prompt,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        # The reward reads text: completions up to their EOS, decoded by the policy's tokenizer.
        completions = [
            tok.decode(row[: int(m.sum())], skip_special_tokens=True)
            for row, m in zip(samples.completions.tolist(), samples.mask, strict=True)
        ]
        prompts = tok.batch_decode(
            batch["input_ids"].repeat_interleave(self.samples_per_prompt, 0),
            skip_special_tokens=True,
        )
        self.last_texts = completions
        device = samples.sequences.device
        scores = self.reward(prompts, completions).to(device).float()
        logp, logp_full = token_logprobs(self.model, samples, full=True)
        with torch.no_grad():
            ref_logp, ref_full = token_logprobs(self.reference, samples, full=True)
            mask = samples.mask.float()
            # The penalty uses the sampled log-ratio (the REINFORCE-consistent estimate); the
            # exact per-position KL is what gets reported (non-negative, low variance).
            kl_sample = ((logp.detach() - ref_logp) * mask).sum(1)  # (N,)
            kl = sequence_kl(logp_full.detach(), ref_full, mask)
        shaped = scores - self.kl_coef * kl_sample
        advantages = rloo_advantages(shaped, self.samples_per_prompt)
        loss = policy_gradient_loss(logp, mask, advantages)
        return {
            "loss": loss,
            "logits": logp.detach(),
            "reward": scores.mean(),
            "reward_std": scores.std() if len(scores) > 1 else scores.new_zeros(()),
            "kl": kl.mean(),
            "kl_sample": kl_sample.mean(),
            "completion_tokens": mask.sum(1).mean(),
            "n": torch.tensor(len(scores)),
        }

    def new_metrics(self) -> RLMetrics:
        return RLMetrics()


class RLMetrics(StreamingMeans):
    """Streaming mean reward, KL and completion length over batches (weighted by samples)."""

    weight_key = "n"
    mean_keys = ("reward", "kl", "completion_tokens")
    count_key = "samples"

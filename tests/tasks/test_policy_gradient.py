"""The policy-gradient pieces on hand-checkable cases: baseline, loss sign/gradient, KL, masks."""

from __future__ import annotations

import torch

from pretune.rl.policy_gradient import policy_gradient_loss, rloo_advantages
from pretune.rl.rewards import KeywordReward
from pretune.rl.sampling import completion_mask, left_pad, sequence_kl


def test_rloo_advantage_is_reward_minus_mean_of_the_others():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv = rloo_advantages(rewards, samples_per_prompt=4)
    assert torch.allclose(adv[:4], torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    assert torch.equal(adv[4:], torch.zeros(4))  # equal rewards: nothing to learn


def test_loss_gradient_raises_the_probability_of_positive_advantage_samples():
    theta = torch.zeros(3, requires_grad=True)  # a one-token policy over 3 actions
    actions = torch.tensor([0, 1])
    advantages = torch.tensor([1.0, -0.5])
    logp = torch.log_softmax(theta, -1)[actions].unsqueeze(1)  # (N=2, L=1)
    loss = policy_gradient_loss(logp, torch.ones(2, 1), advantages)
    loss.backward()
    p = torch.full((3,), 1 / 3)
    # d/dtheta of -(1/N) sum_i A_i log pi(a_i) = -(1/N) sum_i A_i (onehot(a_i) - p)
    expected = -(1.0 * (torch.eye(3)[0] - p) - 0.5 * (torch.eye(3)[1] - p)) / 2
    assert torch.allclose(theta.grad, expected)
    with torch.no_grad():
        after = torch.softmax(theta - 0.1 * theta.grad, -1)
    assert after[0] > 1 / 3 > after[1]  # a descent step favours action 0, disfavours action 1


def test_loss_ignores_tokens_outside_the_completion_and_advantage_gradients():
    logp = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    adv = torch.tensor([2.0], requires_grad=True)
    loss = policy_gradient_loss(logp, torch.tensor([[1.0, 1.0, 0.0]]), adv)
    assert loss.item() == 6.0  # -(2 * (-1 - 2))
    loss.backward()
    assert logp.grad.tolist() == [[-2.0, -2.0, 0.0]] and adv.grad is None


def test_exact_kl_matches_torch_and_is_zero_for_the_same_model():
    torch.manual_seed(0)
    p = torch.log_softmax(torch.randn(2, 3, 5), -1)
    q = torch.log_softmax(torch.randn(2, 3, 5), -1)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    expected = (
        torch.nn.functional.kl_div(q, p, log_target=True, reduction="none").sum(-1) * mask
    ).sum(1)
    assert torch.allclose(sequence_kl(p, q, mask), expected, atol=1e-6)
    assert torch.allclose(sequence_kl(p, p, mask), torch.zeros(2))


def test_completion_stops_after_its_first_eos_and_prompts_pad_left():
    done = completion_mask(torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8]]), eos_token_id=2)
    assert done.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    batch = left_pad([[4, 5], [6]], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[4, 5], [0, 6]]
    assert batch["attention_mask"].tolist() == [[1, 1], [0, 1]]


def test_keyword_reward_is_the_share_of_keyword_words():
    reward = KeywordReward(frozenset({"goal", "match"}))
    scores = reward(["", "", ""], ["Goal! the match", "nothing here", ""])
    assert torch.allclose(scores, torch.tensor([2 / 3, 0.0, 0.0]))

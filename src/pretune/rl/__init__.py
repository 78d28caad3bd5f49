"""Reinforcement-learning fine-tuning of causal LMs: rewards, sampling and the policy-gradient
task of the one loop (`pretune.rl.policy_gradient`), which `recipes/rl.py` trains with.
The RL run's report section lives with the other report HTML (`pretune.report.rl_sections`).
"""

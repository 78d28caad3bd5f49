"""Reinforcement-learning fine-tuning of causal LMs: rewards, sampling and the RL report.

The training itself is a task of the one loop (`pretune.tasks.policy_gradient`); this package
holds what that task and `recipes/rl.py` use.
"""

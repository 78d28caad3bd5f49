"""Where one MiniLM training step spends its time: `torch.profiler` shares by operator.

    python benchmarks/profile_step.py                                # ~2 minutes, 3 settings
    python benchmarks/profile_step.py --settings long_hf_dropout     # one of them

Settings (batch 16; `torch.optim.AdamW` on its `foreach` path, as before the fused default):
  - long_hf_dropout:  256 tokens, 2 threads, the checkpoint's dropout (attention 0.1), as
                      Hugging Face runs it;
  - long_no_attn_dropout: the same with attention dropout 0 (pretune's default);
  - short_one_thread: 32 tokens, 1 thread, attention dropout 0.
`--optimizer` times instead one AdamW update of all of MiniLM's parameters (random gradients,
one thread, median of 5 after a warm-up), fused against `foreach`.
Printed per setting: seconds per step (the profiled step, after one warm-up step) and the
share of self CPU time of matrix multiplies (mm, addmm, bmm), dropout masks (bernoulli_),
mul, softmax forward and backward, and the optimizer's elementwise ops (sqrt, addcdiv,
lerp). Wall-clock seconds depend on the machine's load; shares much less.
"""

from __future__ import annotations

import argparse
import time

import torch

GROUPS = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm"),
    "dropout bernoulli_": ("aten::bernoulli_",),
    "mul": ("aten::mul", "aten::mul_"),
    "softmax fwd+bwd": ("aten::_softmax", "aten::_softmax_backward_data"),
    "adamw sqrt/addcdiv/lerp": ("aten::_foreach_sqrt", "aten::_foreach_addcdiv_",
                                "aten::_foreach_lerp_", "aten::sqrt", "aten::addcdiv_",
                                "aten::lerp_"),
}  # fmt: skip
SETTINGS = {
    "long_hf_dropout": (256, 2, None),
    "long_no_attn_dropout": (256, 2, 0.0),
    "short_one_thread": (32, 1, 0.0),
}


def profile(length: int, threads: int, attention_dropout: float | None) -> dict[str, float]:
    from transformers import AutoModelForSequenceClassification

    from pretune.models.load import resolve_model_path

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    extra = {} if attention_dropout is None else {"attention_probs_dropout_prob": 0.0}
    model = AutoModelForSequenceClassification.from_pretrained(
        str(resolve_model_path("minilm")), num_labels=5, **extra
    ).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    ids = torch.randint(1000, 20000, (16, length))
    labels = torch.randint(0, 5, (16,))

    def step() -> None:
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up: allocations, optimizer state
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        step()
        seconds = time.perf_counter() - started
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    shares = {g: sum(self_us.get(k, 0) for k in keys) / total for g, keys in GROUPS.items()}
    return {"seconds_per_step": seconds, **shares}


def optimizer_step_ms() -> dict[str, float]:
    """Milliseconds of one AdamW step over MiniLM's parameters: fused and foreach."""
    from transformers import AutoModel

    from pretune.models.load import resolve_model_path

    torch.set_num_threads(1)
    params = list(AutoModel.from_pretrained(str(resolve_model_path("minilm"))).parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    times = {}
    for path in ("fused", "foreach"):
        optimizer = torch.optim.AdamW(params, lr=1e-4, **{path: True})
        optimizer.step()  # warm-up: creates the state
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            optimizer.step()
            runs.append(1000 * (time.perf_counter() - started))
        times[path] = sorted(runs)[2]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--optimizer", action="store_true", help="time AdamW: fused vs foreach")
    args = parser.parse_args()
    if args.optimizer:
        times = optimizer_step_ms()
        print(f"AdamW step, 1 thread: fused {times['fused']:.0f} ms, foreach "
              f"{times['foreach']:.0f} ms ({times['foreach'] / times['fused']:.1f}x)")  # fmt: skip
        return
    for name in args.settings:
        result = profile(*SETTINGS[name])
        shares = ", ".join(f"{k} {v:.0%}" for k, v in result.items() if k != "seconds_per_step")
        print(f"{name}: {result['seconds_per_step']:.2f} s/step; {shares}")


if __name__ == "__main__":
    main()

"""The optimizer-state format conversions behind FSDP checkpoints (train/sharded.py), checked
in one process against torch's own `optimizer.state_dict()`."""

from __future__ import annotations

import torch

from pretune.train.sharded import (
    _by_index,
    full_model_state,
    full_optimizer_state,
    is_sharded,
    optimizer_state_by_name,
)


def _trained() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    # Two groups in an order unlike named_parameters(), as parameter_groups() builds them.
    groups = [{"params": [model[2].weight, model[0].weight]}, {"params": [model[0].bias]}]
    optimizer = torch.optim.AdamW(groups, lr=0.1)  # model[2].bias left out, as if frozen
    for _ in range(2):
        model(torch.randn(5, 4)).sum().backward()
        optimizer.step()
    return model, optimizer


def test_name_keyed_state_converts_back_to_torchs_numbering():
    model, optimizer = _trained()
    by_name = optimizer_state_by_name(model, optimizer)
    assert by_name["param_groups"][0]["params"] == ["2.weight", "0.weight"]
    assert set(by_name["state"]) == {"2.weight", "0.weight", "0.bias"}
    torch.testing.assert_close(by_name["state"]["0.bias"], optimizer.state[model[0].bias])
    expected = optimizer.state_dict()
    back = _by_index(by_name)
    assert back["param_groups"] == expected["param_groups"]
    assert back["state"].keys() == expected["state"].keys()
    for index, moments in expected["state"].items():
        torch.testing.assert_close(back["state"][index], moments)


def test_unsharded_models_use_the_plain_state_dicts():
    model, optimizer = _trained()
    assert not is_sharded(model)
    assert full_model_state(model).keys() == model.state_dict().keys()
    assert (
        full_optimizer_state(model, optimizer)["param_groups"]
        == (optimizer.state_dict()["param_groups"])
    )

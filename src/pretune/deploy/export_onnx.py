"""Export a fine-tuned classifier to ONNX (dynamic batch and sequence axes) and check that
onnxruntime gives the same logits as PyTorch on the run's own test texts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit
from pretune.deploy.options import check_output, require
from pretune.errors import ConfigError
from pretune.process_state import leaves_process_as_found
from pretune.runs import QUANTIZATION_FILE, load_run_model, load_test_split, run_config_path

__all__ = ["compare_with_onnx", "export_onnx", "export_run"]

INPUTS = ("input_ids", "attention_mask")


class _LogitsOnly(torch.nn.Module):
    # The exporter wants plain tensors out, not a ModelOutput.
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model: torch.nn.Module, path: Path, opset: int = 17) -> Path:
    """Write `model` as ONNX with inputs input_ids/attention_mask (batch, sequence) -> logits.

    Uses the TorchScript-based exporter (`dynamo=False`): it needs no extra packages and
    handles the dynamic batch and sequence axes of encoder classifiers well.
    """
    import copy

    model = copy.deepcopy(model).eval()
    # SDPA's mask shortcuts (an all-ones mask dropped, shapes checked in Python) would be traced
    # as constants; eager attention traces the masking as graph ops that follow the inputs.
    model.set_attn_implementation("eager")
    model = _LogitsOnly(model)
    example = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones_like(example)
    mask[1, 5:] = 0  # a padded row, so the padding path is what gets traced
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes["logits"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (example, mask),
            str(path),
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return path


def compare_with_onnx(
    model: torch.nn.Module, onnx_path: Path, split: EncodedSplit, batch_size: int = 16
) -> dict[str, Any]:
    """Largest absolute logit difference and label agreement between PyTorch and onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    max_diff, agree, total = 0.0, 0, 0
    for indices in inference_batches(split.lengths, batch_size):
        batch = split.load(indices)
        with torch.inference_mode():
            expected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        expected = expected.logits.numpy()
        feed = {name: batch[name].numpy() for name in INPUTS}
        got = session.run(["logits"], feed)[0]
        max_diff = max(max_diff, float(np.abs(got - expected).max()))
        agree += int((got.argmax(-1) == expected.argmax(-1)).sum())
        total += len(indices)
    return {"max_abs_logit_diff": max_diff, "label_agreement": agree / max(total, 1)}


@leaves_process_as_found()
def export_run(
    run: Path,
    output: Path | None = None,
    *,
    fmt: str = "onnx",
    opset: int = 17,
    check_examples: int = 64,
) -> dict[str, Any]:
    """Export a run's model to `output` (default `<run>/model-onnx`) and verify it.

    The folder holds `model.onnx`, the tokenizer and config.json (labels), so it is
    self-contained for serving with onnxruntime.
    """
    if fmt != "onnx":
        raise ConfigError(f"format={fmt}: only format=onnx is supported")
    for module in ("onnx", "onnxruntime"):
        require(module, "pretune export")
    rm = load_run_model(run)
    if (rm.model_dir / QUANTIZATION_FILE).is_file():
        raise ConfigError(f"{rm.model_dir} is an int8 model; export the float run instead")
    output = check_output(Path(output or Path(run) / "model-onnx"), Path(run))
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    export_onnx(rm.model, tmp / "model.onnx", opset)
    rm.tokenizer.save_pretrained(str(tmp))
    rm.model.config.save_pretrained(str(tmp))
    run_config = run_config_path(rm.run_dir, rm.model_dir)
    if run_config is not None:
        shutil.copy(run_config, tmp / "config.yaml")
    split = load_test_split(rm, check_examples)
    report = {"output": str(output), "opset": opset, "checked_examples": len(split)}
    report.update(compare_with_onnx(rm.model, tmp / "model.onnx", split))
    (tmp / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(output, ignore_errors=True)
    tmp.replace(output)
    return report

"""Dynamic int8 quantisation for CPU inference: Linear weights stored as int8, activations
quantised on the fly per batch. No calibration data is needed; embeddings and LayerNorm stay float.

The saved folder is the float model plus `quantization.json`: re-quantising on load is
deterministic, so it reproduces the int8 model exactly while staying safetensors (no pickled
packed weights) and loadable by plain transformers as the float model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from pretune.deploy.measure import compare_speed, model_bytes
from pretune.deploy.options import check_output
from pretune.process_state import leaves_process_as_found
from pretune.runs import (
    QUANTIZATION_FILE,
    load_run_model,
    load_test_split,
    quantize_model,
    run_config_path,
)

__all__ = ["quantize_model", "quantize_run"]


def _save(model_dir: Path, run_config: Path | None, output: Path) -> None:
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    if run_config is not None:  # max_length and the test split travel with the folder
        shutil.copy(run_config, tmp / "config.yaml")
    info = {"scheme": "dynamic", "dtype": "qint8", "modules": ["Linear"], "source": str(model_dir)}
    (tmp / QUANTIZATION_FILE).write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(output, ignore_errors=True)
    tmp.replace(output)


@leaves_process_as_found()
def quantize_run(
    run: Path,
    output: Path | None = None,
    *,
    batch_size: int = 32,
    repeats: int = 3,
    max_examples: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Quantise a run's model, save it to `output` and compare it with the float model.

    Args:
        run: a finished run folder.
        output: where the int8 model folder goes (default: `<run>/model-int8`).
        batch_size: batch size of the accuracy and speed measurement.
        repeats: passes over the test split, both models interleaved batch by batch; speed is
            the median pass.
        max_examples: measure on the first N test rows only (None: all).
        threads: torch intra-op threads during the measurement (None: leave as is).

    Returns:
        A report: accuracy and examples/s of both models, their sizes and the output folder.
    """
    if threads:
        torch.set_num_threads(threads)
    rm = load_run_model(run)
    output = check_output(Path(output or Path(run) / "model-int8"), Path(run))
    quantized = quantize_model(rm.model)
    split = load_test_split(rm, max_examples)
    report: dict[str, Any] = {"output": str(output), "test_examples": len(split)}
    models = {"float32": rm.model, "int8": quantized}
    # Interleaved batch by batch, so a busy machine slows both alike (see compare_speed).
    report.update(compare_speed(models, split, batch_size, repeats))
    for name, model in models.items():
        report[name]["bytes"] = model_bytes(model)
    f32, i8 = report["float32"], report["int8"]
    report["accuracy_change"] = i8["accuracy"] - f32["accuracy"]
    report["speedup"] = i8["examples_per_s"] / f32["examples_per_s"]
    report["speedup_cpu_time"] = i8["examples_per_cpu_s"] / f32["examples_per_cpu_s"]
    report["size_ratio"] = report["int8"]["bytes"] / report["float32"]["bytes"]
    report["threads"] = torch.get_num_threads()
    _save(rm.model_dir, run_config_path(rm.run_dir, rm.model_dir), output)
    (output / "quantize_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report

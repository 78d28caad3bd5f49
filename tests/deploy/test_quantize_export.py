"""int8 quantisation and ONNX export of the tiny fine-tuned model."""

from __future__ import annotations

import json

import pytest
import torch

from pretune.cli.main import main
from pretune.deploy.export_onnx import export_run
from pretune.deploy.quantize import quantize_run
from pretune.runs import load_run_model, load_test_split, quantize_model


def test_quantize_model_replaces_linear_layers(tiny_run):
    rm = load_run_model(tiny_run)
    q = quantize_model(rm.model)
    kinds = {type(m).__module__ for m in q.modules() if "Linear" in type(m).__name__}
    assert any("quantized" in k for k in kinds)
    assert not any(type(m) is torch.nn.Linear for m in q.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in rm.model.modules())  # original untouched


def test_quantize_run_saves_loadable_int8_model(tiny_run, tmp_path):
    out = tmp_path / "int8"
    report = quantize_run(tiny_run, out, repeats=1)
    assert report["test_examples"] == 15
    assert 0.0 <= report["int8"]["accuracy"] <= 1.0
    assert report["int8"]["bytes"] < report["float32"]["bytes"]
    assert report["speedup"] > 0
    assert json.loads((out / "quantize_report.json").read_text())["output"] == str(out)
    loaded = load_run_model(out)  # re-quantised on load, labels and config from the run
    assert loaded.label_names == load_run_model(tiny_run).label_names
    assert not any(type(m) is torch.nn.Linear for m in loaded.model.modules())
    split = load_test_split(loaded)
    batch = split.load(range(len(split)))
    batch.pop("labels")
    direct = quantize_model(load_run_model(tiny_run).model)
    with torch.inference_mode():
        assert torch.equal(loaded.model(**batch).logits, direct(**batch).logits)


def test_quantize_cli_and_predict_accept_int8_folder(tiny_run, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["quantize", str(tiny_run), f"output={out}", "repeats=1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["output"] == str(out) and "speedup" in printed
    assert main(["quantize", str(tiny_run), "bogus=1"]) == 2
    assert "bogus=1" in capsys.readouterr().err
    texts = tmp_path / "texts.txt"
    texts.write_text("match goal team coach league\nbank market shares profit\n")
    assert main(["predict", str(out), str(texts)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in rows] == [r["label"] for r in _float_predictions(tiny_run, texts)]


def _float_predictions(run, texts):
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["predict", str(run), str(texts)]) == 0
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_onnx_export_matches_pytorch(tiny_run, tmp_path):
    pytest.importorskip("onnxruntime")
    report = export_run(tiny_run, tmp_path / "onnx")
    assert (tmp_path / "onnx" / "model.onnx").is_file()
    assert (tmp_path / "onnx" / "tokenizer.json").is_file()
    assert report["checked_examples"] == 15
    assert report["max_abs_logit_diff"] < 1e-4
    assert report["label_agreement"] == 1.0


def test_predict_on_an_export_folder_runs_onnxruntime_with_the_same_probabilities(
    tiny_run, tmp_path
):
    pytest.importorskip("onnxruntime")
    from pretune.runs import Predictor

    export_run(tiny_run, tmp_path / "onnx")
    texts = ["match goal team coach league", "bank market shares profit", "vote"] * 3
    torch_side, onnx_side = Predictor.load(tiny_run), Predictor.load(tmp_path / "onnx")
    assert not isinstance(onnx_side.model, torch.nn.Module)  # the onnxruntime path
    assert onnx_side.label_names == torch_side.label_names
    assert onnx_side.max_length == torch_side.max_length
    expected = torch_side.probabilities(texts, batch_size=4)
    got = onnx_side.probabilities(texts, batch_size=4)
    assert abs(got - expected).max() < 1e-5


def test_onnx_handles_other_batch_and_sequence_sizes(tiny_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from pretune.deploy.export_onnx import export_onnx

    rm = load_run_model(tiny_run)
    path = export_onnx(rm.model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = torch.randint(5, 300, (5, 37))
    mask = torch.ones_like(ids)
    mask[0, 20:] = 0  # padding in one row must be honoured as in PyTorch
    with torch.inference_mode():
        expected = rm.model(input_ids=ids, attention_mask=mask).logits.numpy()
    got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert got.shape == (5, 3)
    assert abs(got - expected).max() < 1e-4


def test_export_cli_rejects_unknown_format(tiny_run, capsys):
    assert main(["export", str(tiny_run), "format=tflite"]) == 2
    assert "format=tflite" in capsys.readouterr().err


def test_test_split_matches_the_run_and_samples_across_labels(tiny_run):
    rm = load_run_model(tiny_run)
    full = load_test_split(rm)
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert len(full) == summary["test"]["count"]  # the same split training tested on
    sample = load_test_split(rm, 6)
    assert len(sample) == 6 and len(set(sample.labels)) > 1
    assert load_test_split(rm, 6).input_ids == sample.input_ids  # seeded: same every time

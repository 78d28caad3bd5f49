"""Image models built from a config, both Hugging Face `PreTrainedModel`s returning `.logits`,
so that ClassifyTask, the evaluator, `save_pretrained` and the run folder treat them like the
text classifiers:

- `build_vit`: transformers' ViTForImageClassification from scratch (tiny sizes), or
  initialised from a ViTMAE pre-training run (its encoder has the same parameter names).
- `SmallCNN`: two conv blocks (conv-BN-ReLU x2, max-pool), global average pooling, a linear head.
- `build_mae`: ViTMAEForPreTraining for masked-image-modelling pre-training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from pretune.errors import CheckpointError, ConfigError

__all__ = [
    "ARCHS",
    "SmallCNN",
    "SmallCNNConfig",
    "build_image_classifier",
    "build_mae",
    "load_image_classifier",
    "mae_encoder_into_vit",
]

ARCHS = ("vit", "cnn")


class SmallCNNConfig(PretrainedConfig):
    model_type = "pretune_small_cnn"

    def __init__(
        self,
        num_channels: int = 1,
        widths: tuple[int, ...] | list[int] = (32, 64),
        dropout: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_channels = num_channels
        self.widths = list(widths)
        self.dropout = dropout


class SmallCNN(PreTrainedModel):
    """A small CNN for small images: each width is a block of two 3x3 conv-BN-ReLU layers and a
    2x2 max-pool (skipped once the map is 1 pixel wide), then global average pooling."""

    config_class = SmallCNNConfig
    base_model_prefix = "cnn"
    main_input_name = "pixel_values"

    def __init__(self, config: SmallCNNConfig) -> None:
        super().__init__(config)
        layers: list[nn.Module] = []
        channels = config.num_channels
        for width in config.widths:
            for _ in range(2):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(channels, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **_: Any
    ) -> ImageClassifierOutput:
        pooled = self.features(pixel_values).mean(dim=(-2, -1))
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits)


def _labels(label_names: list[str]) -> dict[str, Any]:
    return {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }


def _vit_sizes(m: Any, image_size: int, channels: int) -> dict[str, Any]:
    if image_size % m.patch_size:
        raise ConfigError(
            f"model.patch_size={m.patch_size} does not divide the image size {image_size}; "
            "choose a divisor (or set model.image_size)"
        )
    if m.hidden_size % m.num_heads:
        raise ConfigError(
            f"model.hidden_size={m.hidden_size} is not a multiple of model.num_heads={m.num_heads}"
        )
    return {
        "image_size": image_size,
        "patch_size": m.patch_size,
        "num_channels": channels,
        "hidden_size": m.hidden_size,
        "num_hidden_layers": m.num_layers,
        "num_attention_heads": m.num_heads,
        "intermediate_size": m.intermediate_size,
        "hidden_dropout_prob": m.dropout,
        "attention_probs_dropout_prob": m.attention_dropout,
        # transformers' 1e-12 gives NaN LayerNorm gradients on digits' blank patches (the MAE
        # encoder sees tokens of near-zero variance); 1e-6 is the MAE paper's value.
        "layer_norm_eps": 1e-6,
    }


def build_mae(m: Any, mim: Any, image_size: int, channels: int) -> Any:
    """A ViTMAEForPreTraining from the `model:` sizes and the `mim:` section."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    config = ViTMAEConfig(
        **_vit_sizes(m, image_size, channels),
        decoder_hidden_size=mim.decoder_hidden_size,
        decoder_num_hidden_layers=mim.decoder_layers,
        decoder_num_attention_heads=mim.decoder_heads,
        decoder_intermediate_size=2 * mim.decoder_hidden_size,
        mask_ratio=mim.mask_ratio,
        norm_pix_loss=mim.norm_pix_loss,
    )
    mae = ViTMAEForPreTraining(config)
    _sincos_positions(mae)
    return mae


def _sincos_positions(mae: Any) -> None:
    """Set MAE's fixed 2-D sin-cos position embeddings (encoder and decoder).

    transformers 5 leaves both at zero when the model is built from a config (its
    `_init_weights` zeroes the decoder's and skips the encoder's), and without positions the
    MAE can only learn the mean pixel. The layout follows transformers' own (h/w halves swapped).
    """
    from transformers.models.vit_mae.modeling_vit_mae import (
        build_2d_sinusoidal_position_embedding,
    )

    grid = int(mae.vit.embeddings.patch_embeddings.num_patches**0.5)
    for param in (mae.vit.embeddings.position_embeddings, mae.decoder.decoder_pos_embed):
        table = build_2d_sinusoidal_position_embedding(
            height=grid, width=grid, embed_dim=param.shape[-1], cls_token=True
        )
        half = table.shape[-1] // 2
        table = torch.cat([table[..., half:], table[..., :half]], dim=-1)
        with torch.no_grad():
            param.copy_(table.reshape(param.shape).to(param.dtype))


def mae_encoder_into_vit(vit: Any, mae_folder: Path) -> list[str]:
    """Copy a ViTMAE's encoder (`vit.*`) into a ViTForImageClassification; returns the keys
    left at their fresh initialisation (the classifier head). Sizes must match."""
    from transformers import ViTMAEForPreTraining

    if not (mae_folder / "model.safetensors").is_file():
        raise CheckpointError(f"model.init_from: {mae_folder / 'model.safetensors'} not found")
    # from_pretrained, not the raw file: transformers renames saved keys on load.
    mae = ViTMAEForPreTraining.from_pretrained(str(mae_folder))
    encoder = {k: v for k, v in mae.state_dict().items() if k.startswith("vit.")}
    own = vit.state_dict()
    wrong = [k for k, v in encoder.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ConfigError(
            f"model.init_from={mae_folder}: the MIM run's sizes differ from model.* "
            f"({wrong[0]}: {tuple(encoder[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}); "
            "use the same image_size, patch_size, hidden_size, num_layers and num_heads"
        )
    missing, unexpected = vit.load_state_dict(encoder, strict=False)
    if unexpected:
        raise ConfigError(f"model.init_from={mae_folder}: unexpected weights {unexpected[:3]}")
    return list(missing)


def _model_folder(init_from: str) -> tuple[Path, dict[str, Any]]:
    path = Path(init_from).expanduser()
    folder = path / "model" if (path / "model" / "config.json").is_file() else path
    config = folder / "config.json"
    if not config.is_file():
        raise CheckpointError(
            f"model.init_from={init_from}: no config.json there (give a `pretune images` run "
            "folder or its model/ folder)"
        )
    return folder, json.loads(config.read_text())


def build_image_classifier(
    m: Any, label_names: list[str], image_size: int, channels: int, log: Any = print
) -> Any:
    """The classifier of `model.arch`, from scratch or from `model.init_from` (a MIM run:
    its encoder; an image classifier run: its weights, with a new head if labels differ)."""
    if m.arch not in ARCHS:
        raise ConfigError(f"model.arch={m.arch!r} is unknown; choose from {', '.join(ARCHS)}")
    if m.arch == "cnn":
        if m.init_from:
            raise ConfigError("model.init_from applies to model.arch=vit only (a MIM run)")
        config = SmallCNNConfig(channels, m.cnn_widths, m.dropout, **_labels(label_names))
        return SmallCNN(config)
    from transformers import ViTConfig, ViTForImageClassification

    vit = ViTForImageClassification(
        ViTConfig(**_vit_sizes(m, image_size, channels), **_labels(label_names))
    )
    if m.init_from:
        folder, config = _model_folder(m.init_from)
        if config.get("model_type") != "vit_mae":
            raise ConfigError(
                f"model.init_from={m.init_from} is a {config.get('model_type')!r} model; "
                "a ViT classifier starts from a MIM run (`pretune images objective=mim`)"
            )
        fresh = mae_encoder_into_vit(vit, folder)
        log(f"initialised the ViT encoder from {folder} (new: {', '.join(fresh)})")
    return vit


def load_image_classifier(folder: Path) -> Any:
    """A saved image classifier (`<run>/model`), ViT or SmallCNN."""
    folder, config = _model_folder(str(folder))
    if config.get("model_type") == SmallCNNConfig.model_type:
        return SmallCNN.from_pretrained(str(folder))
    from transformers import ViTForImageClassification

    return ViTForImageClassification.from_pretrained(str(folder))

"""The image recipe's config: RunConfig with image `data:` and `model:` sections, plus
`objective`, `image:` (augmentation, robustness, adversarial training) and `mim:`.

Kept apart from the recipe so that `pretune config show images` reads it without torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pretune.catalog.common import CLASSIFY_METRICS, training_schema
from pretune.config import Section, TrainConfig, narrow

__all__ = [
    "ImageConfig",
    "ImageDataConfig",
    "ImageModelConfig",
]

# Small models from scratch want a larger LR and more epochs than fine-tuning a text encoder.


class ImageDataConfig(Section):
    """`data:` for images."""

    source: str = Field(
        "digits", description="'digits' (sklearn, 1,797 8x8 grey) or a <label>/<image> folder."
    )
    grayscale: bool | None = Field(
        None, description="One channel (true), RGB (false); null: grey if every image is."
    )
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of images for validation.")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Share of images held out for test.")
    split_seed: int | None = Field(
        None, description="Seed of the split (null: seed); fix it to compare seeds on one split."
    )
    label_fraction: float | None = Field(
        None, gt=0, le=1, description="Keep this share of training labels (stratified)."
    )
    max_train_examples: int | None = Field(
        None, ge=1, description="Keep at most this many labelled training images (stratified)."
    )

    @property
    def validation_file(self) -> None:
        return None  # RunConfig's checks read it; images take validation from the split only


class ImageModelConfig(Section):
    """`model:` for images: the architecture and its sizes."""

    arch: Literal["vit", "cnn"] = Field("vit", description="vit (from scratch) or cnn.")
    init_from: str | None = Field(
        None, description="A MIM run folder (objective=mim) whose encoder starts the ViT."
    )
    image_size: int | None = Field(
        None, ge=2, description="Resize images to NxN (null: keep; sizes must then agree)."
    )
    patch_size: int = Field(2, ge=1, description="ViT patch side in pixels.")
    hidden_size: int = Field(64, ge=4, description="ViT width.")
    num_layers: int = Field(4, ge=1, description="ViT encoder layers.")
    num_heads: int = Field(4, ge=1, description="ViT attention heads.")
    intermediate_size: int = Field(128, ge=4, description="ViT feed-forward width.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout (ViT hidden states; CNN head).")
    attention_dropout: float = Field(0.0, ge=0, lt=1, description="ViT attention dropout.")
    cnn_widths: list[int] = Field(
        default_factory=lambda: [32, 64], description="CNN channels per block (each halves HxW)."
    )


class AugmentSection(Section):
    """`image.augment:` training-batch augmentation (all off by default)."""

    shift: int = Field(0, ge=0, description="Random translation up to N pixels (pad + crop).")
    hflip: float = Field(
        0.0, ge=0, le=1, description="Left-right flip probability (keep 0 for digits/text)."
    )
    rotate: float = Field(0.0, ge=0, le=180, description="Random rotation up to +-N degrees.")
    cutout: int = Field(0, ge=0, description="Zero a random NxN square.")
    noise: float = Field(0.0, ge=0, description="Gaussian pixel noise std (pixels are 0..1).")


class RobustnessSection(Section):
    """`image.robustness:` FGSM/PGD accuracy on the test split at the end of a run."""

    epsilons: list[float] = Field(
        default_factory=lambda: [0.02, 0.05, 0.1],
        description="L-inf attack sizes in pixel units (pixels are 0..1); [] skips the attacks.",
    )
    pgd_steps: int = Field(10, ge=1, description="PGD steps (step size 2.5 * epsilon / steps).")


class AdversarialTrainingSection(Section):
    """`image.adversarial_training:` train on clean + attacked images (loss averaged)."""

    method: Literal["none", "fgsm", "pgd"] = Field("none", description="none, fgsm or pgd.")
    epsilon: float = Field(0.05, gt=0, description="L-inf attack size in pixel units.")
    steps: int = Field(3, ge=1, description="PGD steps.")


class ImageSection(Section):
    augment: AugmentSection = Field(default_factory=AugmentSection)
    robustness: RobustnessSection = Field(default_factory=RobustnessSection)
    adversarial_training: AdversarialTrainingSection = Field(
        default_factory=AdversarialTrainingSection
    )


class MIMSection(Section):
    """`mim:` masked-image-modelling (ViTMAE) pre-training; the encoder sizes are `model.*`."""

    mask_ratio: float = Field(0.75, gt=0, lt=1, description="Share of patches hidden.")
    decoder_hidden_size: int = Field(32, ge=4, description="MAE decoder width.")
    decoder_layers: int = Field(1, ge=1, description="MAE decoder layers.")
    decoder_heads: int = Field(4, ge=1, description="MAE decoder attention heads.")
    norm_pix_loss: bool = Field(False, description="Predict per-patch normalised pixels.")


def _check_images(cfg: Any) -> None:
    if cfg.objective == "mim" and "metric" not in cfg.eval.model_fields_set:
        cfg.eval.__dict__["metric"] = "loss"  # the default: what mim computes (no accuracy)
    if cfg.data.label_fraction is not None and cfg.data.max_train_examples is not None:
        raise ValueError("set data.label_fraction or data.max_train_examples, not both")
    if cfg.objective == "mim" and cfg.model.arch != "vit":
        raise ValueError("objective=mim pre-trains a ViT; set model.arch=vit")


def _image_metrics(cfg: Any) -> tuple[str, ...]:
    return ("loss",) if cfg.objective == "mim" else CLASSIFY_METRICS


ImageTrainConfig = narrow(TrainConfig, "TrainConfig", drop=("class_weights", "group_by_length"))


ImageConfig = training_schema(
    "images",
    "Classify images or pre-train a ViT (mim).",
    task_kind=lambda cfg: "image-classify" if cfg.objective == "classify" else "mim",
    metrics=_image_metrics,
    checks=[_check_images],
    objective=(
        Literal["classify", "mim"],
        Field(
            "classify",
            description="classify: labelled images; mim: ViTMAE pre-training (no labels).",
        ),
    ),
    data=ImageDataConfig, model=ImageModelConfig, train=ImageTrainConfig, image=ImageSection,
    mim=MIMSection,
)  # fmt: skip

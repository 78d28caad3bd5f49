"""Images: classification (ViT, small CNN), tensor augmentation, masked-image-modelling
pre-training (ViTMAE) and pixel-space adversarial examples, all trained by the one loop.

    data.py         a <label>/<image> folder or the `digits` built-in -> ImageSplit tensors
    augment.py      random shifts, flips, rotations, noise and cutout on (B, C, H, W) tensors
    models.py       from-scratch ViT and a small CNN (both Hugging Face models with `.logits`)
    tasks.py        the image classification and MIM tasks
    adversarial.py  FGSM / PGD on pixels: robustness numbers and adversarial training

The recipe is `pretune.recipes.images` (`pretune images`); docs in docs/tasks/images.md.
"""

"""pretune: pre-train, fine-tune, evaluate and explain models from one config."""

__version__ = "0.1.0"

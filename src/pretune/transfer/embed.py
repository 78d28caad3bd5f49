"""Sentence embeddings: mean-pooled encoder outputs, and a disk cache for frozen ones.

Frozen embeddings of a corpus are reused by every few-shot draw, every method, zero-shot and
meta-learning, so they are computed once and stored under a key made of the model's weights,
the max length and the texts themselves (any change gives a new key, never a stale hit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.errors import ConfigError
from pretune.models.load import quiet_transformers

__all__ = [
    "Encoder",
    "cache_key",
    "cached_embeddings",
    "embed_texts",
    "load_encoder",
    "mean_pool",
    "torch_threads",
]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` PyTorch CPU threads (None: unchanged), restoring the previous count.

    Small episode/pair batches are dominated by thread hand-offs on a busy machine; a run
    can ask for one thread (train.num_threads) without changing the rest of the process.
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Encoder:
    """A Hugging Face encoder (AutoModel) plus its tokenizer and the folder it came from."""

    def __init__(self, model: Any, tokenizer: Any, path: Path) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.path = path


@quiet_transformers()
def load_encoder(init_from: str) -> Encoder:
    """The bare encoder (no task head) of `init_from` (`minilm`, a folder or a run folder)."""
    from transformers import AutoModel

    from pretune.models.load import load_tokenizer, resolve_model_path

    path = resolve_model_path(init_from)
    try:
        model = AutoModel.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.init_from={init_from}: cannot load an encoder: {exc}") from None
    return Encoder(model, load_tokenizer(path), path)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that are not padding: (B, L, H), (B, L) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def embed_texts(
    encoder: Encoder, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings (N, H) as float32, in the order of `texts`.

    Texts are processed longest first so that each batch pads little; the result is put back
    in the input order.
    """
    model = encoder.model
    was_training = model.training
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            enc = encoder.tokenizer(
                [texts[i] for i in chunk],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            enc = {k: v.to(model.device) for k, v in enc.items()}
            hidden = model(**enc).last_hidden_state
            pooled = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)
            out[chunk] = pooled.float().cpu().numpy()
    model.train(was_training)
    return out


def _weights_digest(path: Path) -> str:
    # Path + size + mtime of the weight files: cheap, and changes whenever the checkpoint does.
    h = hashlib.sha256(str(path.resolve()).encode())
    for name in sorted(os.listdir(path)):
        if name.endswith((".safetensors", ".bin")):
            stat = (path / name).stat()
            h.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()


def cache_key(model_path: Path, max_length: int) -> str:
    """The cache file's name: changes with the checkpoint or the max length."""
    return f"{_weights_digest(model_path)[:20]}-len{max_length}"


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["keys"].tolist(), data["emb"], strict=True))


def cached_embeddings(
    encoder: Encoder,
    texts: Sequence[str],
    max_length: int,
    cache_dir: Path | None,
    batch_size: int = 32,
    log: Any = print,
) -> np.ndarray:
    """`embed_texts`, reusing vectors cached in `cache_dir/<model>-len<max_length>.npz`.

    The cache is keyed per text (its SHA-1), so any subset of a corpus is computed at most
    once: another draw, method or command only encodes the texts it has not seen yet.
    """
    if cache_dir is None:
        log(f"embeddings: {len(texts)} computed (no cache)")
        return embed_texts(encoder, texts, max_length, batch_size)
    path = Path(cache_dir) / f"{cache_key(encoder.path, max_length)}.npz"
    cache = _read_cache(path)
    keys = [_text_key(t) for t in texts]
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
    from_cache = sum(k in cache for k in keys)  # a repeated text is computed once
    log(f"embeddings: {from_cache} from cache, {len(missing)} computed "
        f"(max_length {max_length}; cache {path})")  # fmt: skip
    if missing:
        new = embed_texts(encoder, [texts[i] for i in missing], max_length, batch_size)
        cache = {**_read_cache(path), **{keys[i]: v for i, v in zip(missing, new, strict=True)}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(list(cache)), emb=np.stack(list(cache.values())))
        os.replace(tmp, path)  # never a half-written cache file
    return np.stack([cache[k] for k in keys]).astype(np.float32)

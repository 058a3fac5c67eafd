"""Train once, reload on every later run: a model cache keyed by everything that shapes the result.

Learners restart kernels often; a chapter that trained a model a minute ago should not train it
again. The key hashes the model's structure, its configuration, a fingerprint of the data, the
seed, the run mode and the torch version, so a changed setting never loads a stale model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import cache_enabled, is_quick
from .train import History, load_checkpoint, save_checkpoint


def default_cache_dir() -> Path:
    """``RNNLAB_CACHE_DIR`` if set, else ``~/.cache/rnnlab``."""
    return Path(os.environ.get("RNNLAB_CACHE_DIR") or Path.home() / ".cache" / "rnnlab")


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(f"key:{key}".encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"seq{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(json.dumps(value, default=repr).encode())


def fingerprint(*parts: Any) -> str:
    """A short stable hash of nested data (tensors, arrays, lists, dicts, strings, numbers)."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:20]


def cache_key(name: str, model: nn.Module, *, config: dict[str, Any], data: Any, seed: int) -> str:
    """The file stem a trained model is stored under."""
    structure = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    mode = "quick" if is_quick() else "full"
    return f"{name}-{fingerprint(repr(model), structure, config, data, seed, mode, torch.__version__)}"


def train_once(
    name: str,
    model: nn.Module,
    train: Callable[[], History],
    *,
    config: dict[str, Any],
    data: Any,
    seed: int,
    retrain: bool = False,
    cache_dir: str | Path | None = None,
) -> History:
    """Run ``train()`` (which trains ``model`` in place and returns its History) unless a cached result exists.

    ``config`` holds every setting that changes the result (sizes, learning rate, epochs), ``data`` a
    fingerprintable view of the training data (e.g. the tensors or a list of strings). With the cache on
    and a stored model for this exact key, the weights are loaded into ``model`` instead of training.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a short identifier such as 'dates_attention', got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of settings, got {type(config).__name__}")
    path = Path(cache_dir or default_cache_dir()) / f"{cache_key(name, model, config=config, data=data, seed=seed)}.pt"
    if cache_enabled() and not retrain and path.is_file():
        try:
            state = load_checkpoint(path, model)
        except ValueError as err:
            print(f"Ignoring unreadable cached model {path} ({err}); training again.")
        else:
            print(f"Loaded '{name}' from the cache ({path.name}); pass retrain=True or set RNNLAB_CACHE=0 to train again.")
            return History.from_dict(state["history"])
    history = train()
    if not isinstance(history, History):
        raise TypeError(f"train() must return the History from rnnlab.fit, got {type(history).__name__}")
    if cache_enabled():
        save_checkpoint(path, model, history=history.as_dict(), config=json.loads(json.dumps(config, default=repr)))
    return history

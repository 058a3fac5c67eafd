"""Checkpoints: a training run's whole state written atomically and durably, read back only when
it fits.

`save_checkpoint` writes model and optimizer weights and any extra state (``fit`` adds its history,
early-stopping state and every random-number state) beside the destination, flushes it to disk and
only then renames it into place. `load_checkpoint` refuses, before touching anything, a file that is
missing, truncated, foreign, or whose weights or optimizer do not fit.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CHECKPOINT_FORMAT",
    "check_writable",
    "load_checkpoint",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "write_atomically",
]

# a new layout gets a new name, so an older file is refused rather than misread
CHECKPOINT_FORMAT = "rnnlab-checkpoint-3"


def check_writable(folder: str | Path, what: str = "checkpoints") -> Path:
    """Create ``folder`` if needed and make sure a file can be written there; raise
    ``PermissionError`` naming it if not.

    Called before the first epoch, so a read-only destination fails at once, not after an hour of
    training.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rnnlab-write-test-"):
            pass
    except OSError as err:
        raise PermissionError(
            f"cannot write {what} to the folder {str(folder)!r} ({err.strerror or err}); "
            "choose a writable folder"
        ) from err
    return folder


def rng_state() -> dict[str, Any]:
    """Every random-number state a run draws from: Python, NumPy, torch's CPU generator and each
    GPU's."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Put back what `rng_state` saved (each GPU's only when the same number of GPUs is present)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a new or renamed file) durable; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, **state: Any
) -> Path:
    """Write model (and optimizer) weights plus any extra ``state`` to ``path`` atomically and
    durably.

    The file is written beside its destination, flushed to disk (file and folder) and only then
    renamed into place, so a crash or power cut never leaves a half-written checkpoint where a good
    one was. The optimizer's class is stored so that `load_checkpoint` can refuse another
    optimizer's state.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": _class_name(optimizer) if optimizer is not None else None,
        "state": state,
    }
    return write_atomically(path, payload)


def write_atomically(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """``torch.save(payload)`` to ``path`` so that a reader only ever sees the old file or the whole
    new one: written to a private temporary file beside it, flushed (file and folder), then renamed
    into place."""
    path = Path(path)
    folder = check_writable(path.parent)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_folder(folder)
        os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_model_fits(where: str, model: nn.Module, saved: Mapping[str, Any]) -> None:
    """Every key and shape of the saved weights against ``model``'s, before anything is copied."""
    own = model.state_dict()
    missing = sorted(set(own) - set(saved))
    unexpected = sorted(set(saved) - set(own))
    wrong = [
        f"{k}: saved {tuple(saved[k].shape)}, model {tuple(own[k].shape)}"
        for k in own
        if k in saved and tuple(saved[k].shape) != tuple(own[k].shape)
    ]
    problems = (
        ([f"missing {missing[:5]}"] if missing else [])
        + ([f"unexpected {unexpected[:5]}"] if unexpected else [])
        + wrong[:5]
    )
    if problems:
        raise ValueError(f"{where} does not fit this model: {'; '.join(problems)}")


def _check_optimizer_fits(
    where: str, optimizer: torch.optim.Optimizer, payload: Mapping[str, Any]
) -> None:
    """The saved optimizer state against ``optimizer``: same class, same groups, state shaped like
    the parameters."""
    saved = payload["optimizer"]
    if saved is None:
        raise ValueError(f"{where} holds no optimizer state, but an optimizer was given")
    if payload.get("optimizer_class") != _class_name(optimizer):
        raise ValueError(
            f"{where} holds the state of a {payload.get('optimizer_class')} optimizer, "
            f"not of the {_class_name(optimizer)} given"
        )
    groups = optimizer.param_groups
    sizes = [len(g["params"]) for g in groups]
    saved_sizes = [len(g["params"]) for g in saved["param_groups"]]
    if sizes != saved_sizes:
        raise ValueError(
            f"{where}: the optimizer's parameter groups hold {sizes} parameters, the saved ones "
            f"{saved_sizes}"
        )
    params = [p for g in groups for p in g["params"]]
    saved_ids = [i for g in saved["param_groups"] for i in g["params"]]
    for index, param in zip(saved_ids, params, strict=True):
        for name, value in saved["state"].get(index, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise ValueError(
                    f"{where}: optimizer state {name!r} has shape {tuple(value.shape)}, "
                    f"its parameter {tuple(param.shape)}"
                )


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Load weights saved by `save_checkpoint` into ``model`` (and ``optimizer``); return the extra
    state.

    Loads with ``weights_only=True`` (no code from the file runs) and fails with a clear message on
    a missing, truncated or foreign file, one whose weights do not fit ``model`` (every key and
    shape is compared first) or one saved with another optimizer class. A refused load changes
    nothing: neither the model nor the optimizer is touched unless everything fits.
    """
    path = Path(path)
    where = f"checkpoint path {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{where} is not a readable rnnlab checkpoint (truncated or corrupted?): {err}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{where} was not written by rnnlab.save_checkpoint of this version (format "
            f"{CHECKPOINT_FORMAT!r} missing)"
        )
    _check_model_fits(where, model, payload["model"])
    if optimizer is not None:
        _check_optimizer_fits(where, optimizer, payload)
    backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        model.load_state_dict(payload["model"])
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        model.load_state_dict(backup)
        raise ValueError(f"{where} does not fit this model or optimizer: {err}") from err
    return payload["state"]

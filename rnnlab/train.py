"""One training loop for every chapter, plus checkpoints that resume a run exactly.

The loop is plain PyTorch (zero_grad, forward, loss, backward, clip, step) so a learner can read
it in one screen; what varies between chapters comes in as arguments: ``batch_loss`` for models whose
loss is more than ``loss_fn(model(x), y)``, ``evaluate`` for metrics beyond validation loss.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import pick_device
from .nested import map_tensors

BatchLoss = Callable[[nn.Module, Any], torch.Tensor]
CHECKPOINT_FORMAT = "rnnlab-checkpoint-1"


@dataclass
class History:
    """Per-epoch metrics of a run: ``history["val_loss"]`` is a list with one value per epoch."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def __getitem__(self, metric: str) -> list[float]:
        if not self.epochs or metric not in self.epochs[-1]:
            known = sorted(self.epochs[-1]) if self.epochs else []
            raise KeyError(f"metric {metric!r} not recorded; recorded: {known}")
        return [row[metric] for row in self.epochs if metric in row]

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def last(self) -> dict[str, float]:
        """Metrics of the final epoch."""
        return self.epochs[-1] if self.epochs else {}

    def as_dict(self) -> dict[str, Any]:
        """Plain data (lists, floats) that `from_dict` reads back; used by checkpoints and the cache."""
        return {"epochs": self.epochs, "stopped_early": self.stopped_early, "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        return cls(list(data["epochs"]), bool(data["stopped_early"]), data["best_epoch"])

    def plot(self, metrics: Iterable[str] | None = None, ax: Any = None) -> Any:
        """Plot metrics against epochs (losses on one axis, everything else on a second)."""
        import matplotlib.pyplot as plt

        names = list(metrics) if metrics is not None else [k for k in self.last if k not in ("epoch", "seconds")]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.2))
        epochs = [row["epoch"] for row in self.epochs]
        other = None
        for name in names:
            target = ax
            if "loss" not in name:
                other = other or ax.twinx()
                target = other
            target.plot(epochs, self[name], marker="o", ms=3, label=name, ls="--" if target is other else "-")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        handles = [h for a in (ax, other) if a is not None for h in a.get_legend_handles_labels()[0]]
        ax.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
        return ax


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) batch to ``device``; anything else in it (ids, strings) stays as it is."""
    return map_tensors(batch, lambda t: t.to(device, non_blocking=True))


def default_batch_loss(loss_fn: Callable[[Any, Any], torch.Tensor]) -> BatchLoss:
    """The usual case: a batch is ``(inputs..., target)`` and the loss is ``loss_fn(model(*inputs), target)``."""

    def batch_loss(model: nn.Module, batch: Any) -> torch.Tensor:
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise TypeError(
                "fit(): a batch must be a tuple (inputs..., target); pass batch_loss=fn(model, batch) for other layouts"
            )
        return loss_fn(model(*batch[:-1]), batch[-1])

    return batch_loss


def _check_fit_args(model: Any, train_loader: Any, epochs: Any, clip_grad: Any, patience: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if clip_grad is not None and not (isinstance(clip_grad, (int, float)) and clip_grad > 0):
        raise ValueError(f"clip_grad must be a positive number or None, got {clip_grad!r}")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be a positive int or None, got {patience!r}")
    try:
        if len(train_loader) == 0:
            raise ValueError("train_loader is empty: it yields no batches")
    except TypeError:
        pass  # an iterable without len() is fine


def _mean_loss(model: nn.Module, loader: Iterable[Any], batch_loss: BatchLoss, device: torch.device) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            total += float(batch_loss(model, to_device(batch, device)))
            count += 1
    return total / max(count, 1)


def _improved(value: float, best: float | None, mode: str) -> bool:
    if math.isnan(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    batch_loss: BatchLoss | None = None,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    clip_grad: float | None = None,
    device: str | torch.device | None = None,
    patience: int | None = None,
    monitor: str = "val_loss",
    mode: str | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    scheduler: Any = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> History:
    """Train ``model`` for up to ``epochs`` epochs and return its `History`.

    - ``optimizer`` defaults to Adam(lr=1e-3); ``loss_fn`` to cross-entropy; ``batch_loss(model, batch)``
      replaces both for models that need the whole batch (e.g. teacher forcing with a masked loss).
    - ``evaluate(model)`` returns extra metrics (e.g. ``{"val_acc": ...}``) each epoch, in eval mode.
    - ``patience`` turns on early stopping on ``monitor`` (minimised when its name contains "loss",
      else maximised, unless ``mode`` says otherwise); the best weights are restored at the end.
    - ``checkpoint`` saves model, optimizer, history and random-number state after every epoch;
      with ``resume=True`` a run continues from that file and ends exactly as an uninterrupted run.
    """
    _check_fit_args(model, train_loader, epochs, clip_grad, patience)
    device = pick_device(device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    batch_loss = batch_loss or default_batch_loss(loss_fn or nn.CrossEntropyLoss())
    mode = mode or ("min" if "loss" in monitor else "max")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")

    history, start, best, best_state, waited = History(), 1, None, None, 0
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH to resume from")
        if Path(checkpoint).exists():
            state = load_checkpoint(checkpoint, model, optimizer)
            history = History.from_dict(state["history"])
            start, best, waited, best_state = state["epoch"] + 1, state["best"], state["waited"], state["best_state"]
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"])

    try:
        total_batches = (epochs - start + 1) * len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        total_batches = None
    bar = tqdm(total=total_batches, disable=not progress, unit="batch", desc="training")
    for epoch in range(start, epochs + 1):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        tic, total, count = time.perf_counter(), 0.0, 0
        for batch in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, to_device(batch, device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}; lower the learning rate or set clip_grad")
            loss.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            total, count = total + loss.item(), count + 1
            bar.update(1)
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": float(epoch), "train_loss": total / max(count, 1)}
        if val_loader is not None:
            row["val_loss"] = _mean_loss(model, val_loader, batch_loss, device)
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                row.update({k: float(v) for k, v in evaluate(model).items()})
        row["seconds"] = time.perf_counter() - tic
        history.epochs.append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds")})

        stop = False
        if patience is not None:
            if monitor not in row:
                raise KeyError(f"monitor={monitor!r} is not a recorded metric; recorded: {sorted(row)}")
            if _improved(row[monitor], best, mode):
                best, waited, history.best_epoch = row[monitor], 0, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                stop = waited >= patience
        if checkpoint is not None:
            save_checkpoint(
                checkpoint, model, optimizer, epoch=epoch, history=history.as_dict(), best=best, waited=waited,
                best_state=best_state, rng=_rng_state(),
                scheduler=scheduler.state_dict() if scheduler is not None else None,
            )
        if stop:
            history.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, **state: Any) -> Path:
    """Write model (and optimizer) weights plus any extra ``state`` to ``path`` atomically.

    The file is written beside its destination and renamed into place, so an interrupted save never
    leaves a half-written checkpoint where a good one was.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "state": state,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Load weights saved by `save_checkpoint` into ``model`` (and ``optimizer``); return the extra state.

    Loads with ``weights_only=True`` (no code from the file runs) and fails with a clear message on a
    missing, truncated or foreign file, or one whose weights do not fit ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint path {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint path {str(path)!r} is not a readable rnnlab checkpoint (truncated or corrupted?): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint path {str(path)!r} was not written by rnnlab.save_checkpoint (format {CHECKPOINT_FORMAT!r} missing)")
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint path {str(path)!r} does not fit this model: {err}") from err
    if optimizer is not None:
        if payload["optimizer"] is None:
            raise ValueError(f"checkpoint path {str(path)!r} holds no optimizer state, but an optimizer was given")
        optimizer.load_state_dict(payload["optimizer"])
    return payload["state"]

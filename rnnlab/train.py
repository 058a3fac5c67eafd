"""One training loop for every chapter: `fit`, with early stopping and exact resume as callbacks.

`fit` is plain PyTorch (zero_grad, forward, loss, backward, clip, step) that a learner reads in one
screen; what varies between chapters comes in as arguments: ``batch_loss`` for models whose loss is
more than ``loss_fn(model(x), y)``, ``evaluate`` for metrics beyond validation loss. The rest are
callbacks (`rnnlab.callbacks`), as minGPT's trainer triggers them: `EarlyStopping` ends a run on a
plateau with the best weights, `Checkpointer` saves the run after every epoch and resumes it (file
I/O in `rnnlab.checkpoint`), and a learner's own `Callback` hooks the same events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .callbacks import Callback, Checkpointer, EarlyStopping, EpochStart, Run
from .checks import check_choice, check_number, check_positive
from .config import pick_device
from .history import History
from .modes import eval_mode
from .nested import map_tensors

__all__ = [
    "History",
    "fit",
    "default_batch_loss",
    "pin_epoch",
    "to_device",
]

BatchLoss = Callable[[nn.Module, Any], torch.Tensor]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) batch to ``device``; anything else in it (ids, strings)
    stays as it is."""
    return map_tensors(batch, lambda t: t.to(device, non_blocking=True))


def default_batch_loss(loss_fn: Callable[[Any, Any], torch.Tensor]) -> BatchLoss:
    """The usual case: a batch is ``(inputs..., target)`` and the loss is
    ``loss_fn(model(*inputs), target)``."""

    def batch_loss(model: nn.Module, batch: Any) -> torch.Tensor:
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise TypeError(
                "fit(): a batch must be a tuple (inputs..., target); pass batch_loss=fn(model, "
                "batch) for other layouts"
            )
        return loss_fn(model(*batch[:-1]), batch[-1])

    return batch_loss


def _check_fit_args(
    model: Any,
    train_loader: Any,
    epochs: Any,
    clip_grad: Any,
    mode: Any,
    resume: Any,
    checkpoint: Any,
) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_positive(epochs=epochs)
    check_number("clip_grad", clip_grad, above=0, optional=True)
    if mode is not None:
        check_choice("mode", mode, ("min", "max"))
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH to resume from")
    try:
        if len(train_loader) == 0:
            raise ValueError("train_loader is empty: it yields no batches")
    except TypeError:
        pass  # an iterable without len() is fine


def _mean_loss(
    model: nn.Module, loader: Iterable[Any], batch_loss: BatchLoss, device: torch.device
) -> float:
    total, count = 0.0, 0
    with eval_mode(model), torch.no_grad():
        for batch in loader:
            total += float(batch_loss(model, to_device(batch, device)))
            count += 1
    return total / max(count, 1)


def pin_epoch(loader: Any, epoch: int) -> None:
    """Make ``loader``'s next pass serve ``epoch`` (``set_epoch`` on the loader, its batch sampler
    or sampler, where they have one).

    `fit` pins every epoch, so what a run trains on depends on the epoch number alone, never on how
    often the same loader or stream was iterated before (by another model, or an earlier run).
    """
    for holder in (
        loader,
        getattr(loader, "batch_sampler", None),
        getattr(loader, "sampler", None),
    ):
        set_epoch = getattr(holder, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


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
    min_delta: float = 0.0,
    monitor: str = "val_loss",
    mode: str | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    scheduler: Any = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Train ``model`` for up to ``epochs`` epochs and return its `History`.

    - ``optimizer`` defaults to Adam(lr=1e-3); ``loss_fn`` to cross-entropy;
      ``batch_loss(model, batch)`` replaces both for models that need the whole batch (e.g. teacher
      forcing with a masked loss).
    - ``evaluate(model)`` returns extra metrics (e.g. ``{"val_acc": ...}``) each epoch, in eval
      mode.
    - ``patience`` (with ``monitor``, ``mode``, ``min_delta``) turns on `EarlyStopping`: training
      stops on a plateau and ends with the weights of the best epoch.
    - ``checkpoint`` saves the whole run after every epoch (`Checkpointer`); with ``resume=True`` a
      run continues from that file and ends exactly as an uninterrupted run (a finished one,
      early-stopped or not, returns at once). A read-only folder fails before the first epoch.
    - ``on_epoch_start(epoch)`` and ``callbacks`` (`Callback` objects) hook each epoch.
    - Each epoch pins the loader's pass (`pin_epoch`), so a run never depends on earlier uses of the
      same loader. The model ends in train mode, with the best weights when early stopping is on.
    """
    _check_fit_args(model, train_loader, epochs, clip_grad, mode, resume, checkpoint)
    stopper = EarlyStopping(patience, monitor, mode, min_delta) if patience is not None else None
    saver = Checkpointer(checkpoint, stopper) if checkpoint is not None else None
    device = pick_device(device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    batch_loss = batch_loss or default_batch_loss(loss_fn or nn.CrossEntropyLoss())
    hooks = _hooks(on_epoch_start, stopper, callbacks, saver)
    run = Run(model, optimizer, scheduler, History())
    start = _resume(saver, run, hooks, train_loader, epochs) if resume else 1
    with _progress_bar(train_loader, epochs - start + 1, progress) as bar:
        for epoch in range(start, epochs + 1):
            pin_epoch(train_loader, epoch)
            for hook in hooks:
                hook.on_epoch_start(epoch)
            model.train()
            tic, losses = time.perf_counter(), []
            for batch in train_loader:
                optimizer.zero_grad(set_to_none=True)
                loss = batch_loss(model, to_device(batch, device))
                losses.append(_finite(loss.item(), epoch))
                loss.backward()
                if clip_grad is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
                optimizer.step()
                bar.update(1)
            if scheduler is not None:
                scheduler.step()
            row = {"epoch": float(epoch), "train_loss": sum(losses) / max(len(losses), 1)}
            row.update(_validate(model, val_loader, batch_loss, evaluate, device))
            run.history.epochs.append({**row, "seconds": time.perf_counter() - tic})
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"})
            for hook in hooks:
                hook.on_epoch_end(run)
            if run.history.stopped_early:
                break
    for hook in hooks:
        hook.on_train_end(run)
    model.train()
    return run.history


def _hooks(
    on_epoch_start: Callable[[int], None] | None,
    stopper: EarlyStopping | None,
    callbacks: Sequence[Callback],
    saver: Checkpointer | None,
) -> list[Callback]:
    """The callbacks of a `fit` call, in the order they run: the saver last, so the checkpoint holds
    what every other one did to the epoch."""
    first = [EpochStart(on_epoch_start)] if on_epoch_start is not None else []
    return [*first, *([stopper] if stopper else []), *callbacks, *([saver] if saver else [])]


def _resume(
    saver: Checkpointer | None,
    run: Run,
    hooks: Sequence[Callback],
    train_loader: Iterable[Any],
    epochs: int,
) -> int:
    """Continue from ``saver``'s file: replay the finished epochs' ``on_epoch_start`` side effects
    (schedules, samplers) and return the first epoch to train (past ``epochs`` when the run is
    finished, early-stopped or not, so that it returns at once, as it ended)."""
    assert saver is not None  # _check_fit_args: resume needs a checkpoint
    start = saver.resume(run)
    for done in range(1, start):
        for hook in hooks:
            hook.on_epoch_start(done)
    if run.history.stopped_early or start > epochs:
        pin_epoch(train_loader, start)
        return epochs + 1
    return start


def _finite(loss: float, epoch: int) -> float:
    """The batch's loss, or a clear error before a non-finite one reaches the weights."""
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"loss became {loss} at epoch {epoch}; lower the learning rate or set clip_grad"
        )
    return loss


def _validate(
    model: nn.Module,
    val_loader: Iterable[Any] | None,
    batch_loss: BatchLoss,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None,
    device: torch.device,
) -> dict[str, float]:
    """The epoch's held-out metrics: ``val_loss`` on ``val_loader`` and whatever ``evaluate``
    returns, both in eval mode without gradients."""
    row = {}
    if val_loader is not None:
        row["val_loss"] = _mean_loss(model, val_loader, batch_loss, device)
    if evaluate is not None:
        with eval_mode(model), torch.no_grad():
            row.update({k: float(v) for k, v in evaluate(model).items()})
    return row


def _progress_bar(train_loader: Iterable[Any], epochs: int, progress: bool) -> tqdm:
    try:
        total = epochs * len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    return tqdm(total=total, disable=not progress, unit="batch", desc="training")

"""One training loop for every chapter, with early stopping and exact resume as small named pieces.

`fit` is plain PyTorch (zero_grad, forward, loss, backward, clip, step) that a learner reads in one
screen; what varies between chapters comes in as arguments: ``batch_loss`` for models whose loss is
more than ``loss_fn(model(x), y)``, ``evaluate`` for metrics beyond validation loss. The rest are
callbacks, as minGPT's trainer triggers them: `EarlyStopping` keeps the best weights and ends a run
on a plateau, `Checkpointer` saves the run after every epoch and resumes it (file I/O in
`rnnlab.checkpoint`), and any `Callback` of the learner's hooks the same events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import (
    check_writable,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .checks import check_choice, check_int, check_number, check_positive
from .config import pick_device
from .modes import eval_mode
from .nested import map_tensors

__all__ = [
    "Callback",
    "Checkpointer",
    "EarlyStopping",
    "History",
    "Run",
    "fit",
    "load_checkpoint",
    "pin_epoch",
    "save_checkpoint",
    "to_device",
]

BatchLoss = Callable[[nn.Module, Any], torch.Tensor]


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
        """Plain data (lists, floats) that `from_dict` reads back; used by checkpoints and the
        cache."""
        return {
            "epochs": self.epochs,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        return cls(list(data["epochs"]), bool(data["stopped_early"]), data["best_epoch"])

    def plot(self, metrics: Iterable[str] | None = None, ax: Any = None) -> Any:
        """Plot metrics against epochs (losses on one axis, everything else on a second)."""
        import matplotlib.pyplot as plt

        names = (
            list(metrics)
            if metrics is not None
            else [k for k in self.last if k not in ("epoch", "seconds")]
        )
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.2))
        epochs = [row["epoch"] for row in self.epochs]
        other = None
        for name in names:
            target = ax
            if "loss" not in name:
                other = other or ax.twinx()
                target = other
            target.plot(
                epochs,
                self[name],
                marker="o",
                ms=3,
                label=name,
                ls="--" if target is other else "-",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        handles = [
            h for a in (ax, other) if a is not None for h in a.get_legend_handles_labels()[0]
        ]
        ax.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
        return ax


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


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """True when ``value`` beats ``best`` by more than ``min_delta`` in the direction ``mode`` asks
    for."""
    if math.isnan(value):
        return False
    return best is None or (value < best - min_delta if mode == "min" else value > best + min_delta)


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


@dataclass
class Run:
    """One training run as callbacks see it: what trains, and the history so far.

    A callback ends the run after the current epoch by setting ``history.stopped_early = True``.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: History

    @property
    def epoch(self) -> int:
        """The last epoch recorded (the history holds every epoch from the first, resumed too)."""
        return len(self.history)


class Callback:
    """The events `fit` calls, as minGPT's trainer triggers its callbacks; override those you need.

    ``on_epoch_start(epoch)`` runs before the epoch's first batch (and, on resume, once for every
    finished epoch, so a schedule ends where it was); ``on_epoch_end(run)`` after its metrics are in
    ``run.history``; ``on_train_end(run)`` once, after the last epoch.
    """

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def on_epoch_end(self, run: Run) -> None:
        pass

    def on_train_end(self, run: Run) -> None:
        pass


class _EpochStart(Callback):
    """``fit(on_epoch_start=fn)``: ``fn(epoch)`` as a callback."""

    def __init__(self, fn: Callable[[int], None]) -> None:
        self.fn = fn

    def on_epoch_start(self, epoch: int) -> None:
        self.fn(epoch)


class EarlyStopping(Callback):
    """Stop once ``patience`` epochs in a row have not moved ``monitor`` more than ``min_delta``
    beyond its last such step, and end with the weights of the best epoch.

    ``monitor`` is minimised when its name contains "loss", else maximised, unless ``mode`` says
    otherwise. Patience counts from the last step larger than ``min_delta`` (as Keras's
    ``EarlyStopping`` counts improvements), so a loss still creeping down by crumbs has reached its
    plateau; the best epoch, crumbs included, is the one whose weights are kept.
    """

    def __init__(
        self,
        patience: int,
        monitor: str = "val_loss",
        mode: str | None = None,
        min_delta: float = 0.0,
    ) -> None:
        self.patience = check_int("patience", patience, minimum=1)
        self.min_delta = check_number("min_delta", min_delta, minimum=0)
        self.monitor = monitor
        self.mode = check_choice("mode", mode or _default_mode(monitor), ("min", "max"))
        # best: the best value so far (its weights are kept); reference: the value of the last
        # step of more than min_delta, from which patience counts (the same when min_delta is 0)
        self.best: float | None = None
        self.reference: float | None = None
        self.waited = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, run: Run) -> None:
        row = run.history.last
        if self.monitor not in row:
            raise KeyError(
                f"monitor={self.monitor!r} is not a recorded metric; recorded: {sorted(row)}"
            )
        value = row[self.monitor]
        if _improved(value, self.best, self.mode):
            self.best, run.history.best_epoch = value, run.epoch
            self.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        if _improved(value, self.reference, self.mode, self.min_delta):
            self.reference, self.waited = value, 0
        else:
            self.waited += 1
        if self.waited >= self.patience:
            run.history.stopped_early = True

    def on_train_end(self, run: Run) -> None:
        if self.best_state is not None:
            run.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps so a resumed run stops where an uninterrupted one does."""
        return {
            "best": self.best,
            "reference": self.reference,
            "waited": self.waited,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.reference = state["best"], state["reference"]
        self.waited, self.best_state = state["waited"], state["best_state"]


# what a checkpoint of a run without early stopping holds in its place
_NO_STOPPING = {"best": None, "reference": None, "waited": 0, "best_state": None}


class Checkpointer(Callback):
    """Save the whole run to ``path`` after every epoch; `resume` continues a run from that file.

    The file holds model, optimizer, scheduler, history, the early-stopping state and every
    random-number state, so a resumed run ends exactly as an uninterrupted one. The folder is
    checked writable here, before the first epoch.
    """

    def __init__(self, path: str | Path, stopper: EarlyStopping | None = None) -> None:
        self.path = Path(path)
        check_writable(self.path.parent)
        self.stopper = stopper

    def on_epoch_end(self, run: Run) -> None:
        save_checkpoint(
            self.path,
            run.model,
            run.optimizer,
            epoch=run.epoch,
            history=run.history.as_dict(),
            **(self.stopper.state_dict() if self.stopper is not None else _NO_STOPPING),
            rng=rng_state(),
            scheduler=run.scheduler.state_dict() if run.scheduler is not None else None,
        )

    def resume(self, run: Run) -> int:
        """Load the saved run into ``run`` (and the stopper); return the next epoch to train (1
        when there is no file yet)."""
        if not self.path.exists():
            return 1
        state = load_checkpoint(self.path, run.model, run.optimizer)
        run.history = History.from_dict(state["history"])
        if self.stopper is not None:
            self.stopper.load_state_dict(state)
        if run.scheduler is not None and state.get("scheduler") is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        return state["epoch"] + 1


def _default_mode(monitor: str) -> str:
    return "min" if "loss" in monitor else "max"


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
    first = [_EpochStart(on_epoch_start)] if on_epoch_start is not None else []
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

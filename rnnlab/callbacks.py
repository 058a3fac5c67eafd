"""Callbacks `fit` triggers each epoch, as minGPT's trainer does: the `Callback` events, the `Run`
they see, `EarlyStopping` (stop on a plateau, keep the best weights) and `Checkpointer` (save the
run after every epoch, resume it exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import check_writable, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .checks import check_choice, check_int, check_number
from .history import History

__all__ = ["Callback", "Checkpointer", "EarlyStopping", "EpochStart", "Run"]


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


class EpochStart(Callback):
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


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """True when ``value`` beats ``best`` by more than ``min_delta`` in the direction ``mode`` asks
    for."""
    if math.isnan(value):
        return False
    return best is None or (value < best - min_delta if mode == "min" else value > best + min_delta)

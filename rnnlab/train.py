"""One training loop for every chapter, plus checkpoints that resume a run exactly.

The loop is plain PyTorch (zero_grad, forward, loss, backward, clip, step) so a learner can read
it in one screen; what varies between chapters comes in as arguments: ``batch_loss`` for models
whose loss is more than ``loss_fn(model(x), y)``, ``evaluate`` for metrics beyond validation loss.
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

from .checks import check_int, check_number, check_positive
from .config import pick_device
from .modes import eval_mode
from .nested import map_tensors

BatchLoss = Callable[[nn.Module, Any], torch.Tensor]
CHECKPOINT_FORMAT = "rnnlab-checkpoint-3"  # 3: early stopping also saves its min_delta reference


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
    model: Any, train_loader: Any, epochs: Any, clip_grad: Any, patience: Any, min_delta: Any
) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_positive(epochs=epochs)
    check_number("clip_grad", clip_grad, above=0, optional=True)
    check_int("patience", patience, minimum=1, optional=True)
    check_number("min_delta", min_delta, minimum=0)
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


def _rng_state() -> dict[str, Any]:
    """Every random-number state a run draws from: Python, NumPy, torch's CPU generator and each
    GPU's."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


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
) -> History:
    """Train ``model`` for up to ``epochs`` epochs and return its `History`.

    - ``optimizer`` defaults to Adam(lr=1e-3); ``loss_fn`` to cross-entropy;
      ``batch_loss(model, batch)`` replaces both for models that need the whole batch (e.g. teacher
      forcing with a masked loss).
    - ``evaluate(model)`` returns extra metrics (e.g. ``{"val_acc": ...}``) each epoch, in eval
      mode.
    - ``patience`` turns on early stopping on ``monitor`` (minimised when its name contains "loss",
      else maximised, unless ``mode`` says otherwise): training stops once ``patience`` epochs in a
      row have not moved it more than ``min_delta`` beyond its last such step (as Keras's
      ``EarlyStopping`` counts improvements), so a loss still creeping down by crumbs has reached
      its plateau. The weights of the best epoch, crumbs included, are restored at the end.
    - ``checkpoint`` saves model, optimizer, scheduler, history and random-number state after every
      epoch; with ``resume=True`` a run continues from that file and ends exactly as an
      uninterrupted run (a finished one, early-stopped or not, returns at once). The folder must be
      writable: a read-only one fails before the first epoch.
    - Each epoch pins the loader's pass (`pin_epoch`), so a run never depends on earlier uses of the
      same loader. The model ends in train mode, with the best weights when early stopping is on.
    """
    _check_fit_args(model, train_loader, epochs, clip_grad, patience, min_delta)
    if checkpoint is not None:
        check_writable(Path(checkpoint).parent)
    device = pick_device(device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    batch_loss = batch_loss or default_batch_loss(loss_fn or nn.CrossEntropyLoss())
    mode = mode or ("min" if "loss" in monitor else "max")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")

    # best: the best monitored value so far (its weights are the ones kept); reference: the value of
    # the last step forward of more than min_delta, from which patience counts (the two coincide
    # when min_delta is 0)
    history = History()
    start = 1
    best = None
    reference = None
    best_state = None
    waited = 0
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH to resume from")
        if Path(checkpoint).exists():
            state = load_checkpoint(checkpoint, model, optimizer)
            history = History.from_dict(state["history"])
            start = state["epoch"] + 1
            best = state["best"]
            waited = state["waited"]
            best_state = state["best_state"]
            reference = state["reference"]
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"])
            # what the finished epochs left in stateful helpers (schedules, samplers)
            for done in range(1, start):
                if on_epoch_start is not None:
                    on_epoch_start(done)
            # a finished run returns at once, as it ended
            if history.stopped_early or start > epochs:
                pin_epoch(train_loader, start)
                start = epochs + 1

    try:
        total_batches = (epochs - start + 1) * len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        total_batches = None
    bar = tqdm(total=total_batches, disable=not progress, unit="batch", desc="training")
    for epoch in range(start, epochs + 1):
        pin_epoch(train_loader, epoch)
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        tic = time.perf_counter()
        total = 0.0
        count = 0
        for batch in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, to_device(batch, device))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch}; lower the learning rate or set "
                    "clip_grad"
                )
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
            with eval_mode(model), torch.no_grad():
                row.update({k: float(v) for k, v in evaluate(model).items()})
        row["seconds"] = time.perf_counter() - tic
        history.epochs.append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds")})

        stop = False
        if patience is not None:
            if monitor not in row:
                raise KeyError(
                    f"monitor={monitor!r} is not a recorded metric; recorded: {sorted(row)}"
                )
            if _improved(row[monitor], best, mode):
                best = row[monitor]
                history.best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if _improved(row[monitor], reference, mode, min_delta):
                reference, waited = row[monitor], 0
            else:
                waited += 1
                stop = waited >= patience
        history.stopped_early = stop
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                model,
                optimizer,
                epoch=epoch,
                history=history.as_dict(),
                best=best,
                reference=reference,
                waited=waited,
                best_state=best_state,
                rng=_rng_state(),
                scheduler=scheduler.state_dict() if scheduler is not None else None,
            )
        if stop:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.train()
    return history


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
    path = Path(path)
    folder = check_writable(path.parent)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": _class_name(optimizer) if optimizer is not None else None,
        "state": state,
    }
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

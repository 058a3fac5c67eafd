"""`History`: the per-epoch metrics of a training run, as `fit` returns them and checkpoints and
the model cache store them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]


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

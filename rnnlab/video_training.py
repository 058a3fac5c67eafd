"""The training recipe of chapter 3's video models, in the training layer (it uses the cache and the
loop).

`rnnlab.models.video` holds the models themselves; this module trains any of them on a `VideoStream`
through `rnnlab.train_cached`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .cache import train_cached
from .data.videos import PAD_LABEL
from .history import History
from .models.video import predict
from .sequences import masked_cross_entropy

__all__ = ["train_video_model"]


def train_video_model(
    name: str,
    model: nn.Module,
    stream: Iterable[Any],
    val: Any,
    *,
    epochs: int,
    lr: float = 3e-3,
    seed: int = 0,
    device: Any = None,
) -> History:
    """Train ``model`` on a `VideoStream` with `rnnlab.fit` (Adam, cross-entropy) through
    `rnnlab.train_cached`, recording ``val_acc`` on the clips ``val`` (a `DigitVideos`) after every
    epoch; returns the `History`.

    The learning rate follows a cosine from ``lr`` down to 0 over ``epochs``, and the weights of the
    epoch with the best ``val_acc`` are kept.
    For a per-frame model (``model.per_frame``) the loss is the masked cross-entropy over real
    frames and ``val_acc`` the share of real frames labelled right.
    """
    per_frame = bool(getattr(model, "per_frame", False))
    targets = val.frame_labels if per_frame else val.labels

    def evaluate(m: nn.Module) -> dict[str, float]:
        predicted = predict(m, val.videos, val.lengths).argmax(-1)
        real = targets != PAD_LABEL
        return {"val_acc": float((predicted == targets)[real].float().mean())}

    def batch_loss(m: nn.Module, batch: Any) -> torch.Tensor:
        videos, lengths, y = batch
        return (
            masked_cross_entropy(m(videos, lengths), y, lengths)
            if per_frame
            else F.cross_entropy(m(videos, lengths), y)
        )

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return train_cached(
        name,
        model,
        stream,
        data=[val.videos[:8], targets],
        seed=seed,
        epochs=epochs,
        optimizer=optimizer,
        scheduler=scheduler,
        batch_loss=batch_loss,
        evaluate=evaluate,
        patience=epochs,
        monitor="val_acc",
        device=device,
    )

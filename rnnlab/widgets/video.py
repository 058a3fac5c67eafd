"""A clip player for chapter 3: press Play (or drag the slider) and watch a model's answer form
frame by frame."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch


def frame_png(frame: Any, zoom: int = 6) -> bytes:
    """A grey-scale frame ``(H, W)`` in [0, 1] as PNG bytes, each pixel drawn ``zoom``×``zoom``
    (dark digit on white)."""
    import matplotlib.image

    image = np.asarray(frame.cpu() if isinstance(frame, torch.Tensor) else frame, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"frame must be 2-D (H, W), got shape {image.shape}")
    big = np.kron(1.0 - np.clip(image, 0, 1), np.ones((zoom, zoom), dtype=np.float32))
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, big, cmap="gray", vmin=0, vmax=1, format="png")
    return buffer.getvalue()


def prediction_html(
    probabilities: Any, names: Sequence[str], frame: int, truth: str | None = None, top: int = 3
) -> str:
    """What the player prints under frame ``frame``: the ``top`` classes with probability bars, and
    the truth."""
    probs = np.asarray(
        probabilities.detach().cpu() if isinstance(probabilities, torch.Tensor) else probabilities,
        dtype=float,
    )
    if probs.ndim != 1 or len(probs) != len(names):
        raise ValueError(
            f"probabilities must be 1-D with one value per name ({len(names)}), got shape "
            f"{probs.shape}"
        )
    rows = [
        f"<b>after frame {frame + 1}</b>"
        + (f" &nbsp; truth: <b>{truth}</b>" if truth is not None else "")
    ]
    for k in np.argsort(-probs)[:top]:
        width = int(round(160 * probs[k]))
        rows.append(
            f"<div style='font-family:monospace'>{names[k]:>12} "
            f"<span style='display:inline-block;width:{width}px;height:10px;background:#4a7ebb'>"
            f"</span> {probs[k]:.2f}</div>"
        )
    return "".join(rows)


def clip_player(
    videos: torch.Tensor,
    lengths: Any,
    probabilities: torch.Tensor,
    names: Sequence[str],
    truth: Sequence[str] | Sequence[Sequence[str]] | None = None,
    interval_ms: int = 400,
) -> widgets.VBox:
    """Play + slider over the frames of clip ``i`` (chosen in a dropdown), showing
    ``probabilities[i, t]`` under frame t.

    ``probabilities (N, T, C)`` are the model's answers after each frame (e.g.
    ``model.running_predictions`` or the softmax of a per-frame model); ``truth`` is one name per
    clip, or one list of names per clip (per-frame labels).
    """
    if not isinstance(videos, torch.Tensor) or videos.dim() != 4:
        raise ValueError(
            f"videos must be (N, T, H, W), got {getattr(videos, 'shape', type(videos).__name__)}"
        )
    wanted = (*videos.shape[:2], len(names))
    if not isinstance(probabilities, torch.Tensor) or tuple(probabilities.shape) != wanted:
        raise ValueError(
            f"probabilities must be (N, T, C) = {wanted}, got "
            f"{getattr(probabilities, 'shape', None)}"
        )
    lengths = [int(v) for v in lengths]
    if len(lengths) != videos.shape[0] or (truth is not None and len(truth) != videos.shape[0]):
        raise ValueError(f"lengths and truth need one entry per clip ({videos.shape[0]})")
    clip = widgets.Dropdown(
        options=[
            (
                f"clip {i}"
                + (f" ({truth[i]})" if truth is not None and isinstance(truth[i], str) else ""),
                i,
            )
            for i in range(videos.shape[0])
        ],
        description="clip",
    )
    play = widgets.Play(min=0, max=lengths[0] - 1, interval=interval_ms, description="play")
    slider = widgets.IntSlider(min=0, max=lengths[0] - 1, description="frame")
    widgets.jslink((play, "value"), (slider, "value"))
    image = widgets.Image(format="png")
    text = widgets.HTML()

    def show(*_: Any) -> None:
        i = clip.value
        t = min(slider.value, lengths[i] - 1)
        said = truth[i] if truth is None or isinstance(truth[i], str) else truth[i][t]
        image.value = frame_png(videos[i, t])
        text.value = prediction_html(probabilities[i, t], names, t, said)

    def pick_clip(*_: Any) -> None:
        play.max = slider.max = lengths[clip.value] - 1
        play.value = slider.value = 0
        show()

    clip.observe(pick_clip, names="value")
    slider.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([clip, play, slider]), widgets.HBox([image, text])])

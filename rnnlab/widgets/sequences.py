"""Drag sequence lengths, watch the padded batch, its mask and the packed ``batch_sizes`` change.

`batch_layout` computes everything the widget shows (with the real `rnnlab.sequences` functions, so
the picture is what torch does), and `padding_explorer` draws it as HTML tables under one slider per
sequence. Each token is labelled by its sequence's letter and its position: ``B3`` is the third
token of sequence B.
"""

from __future__ import annotations

import html
import string
from collections.abc import Sequence
from typing import Any

import torch

from ..sequences import check_lengths, lengths_to_mask, pack, pad_sequences

__all__ = ["batch_layout", "padding_explorer"]

MAX_SEQUENCES = len(string.ascii_uppercase)


def batch_layout(lengths: Sequence[int] | torch.Tensor) -> dict[str, Any]:
    """What a batch of sequences with these ``lengths`` looks like padded, masked and packed.

    Returns ``padded`` (B rows of T labels, ``""`` for padding), ``mask`` (``(B, T)`` bool),
    ``batch_sizes`` (how many sequences are still running at each time step), ``packed`` (the labels
    a packed RNN reads, one list per time step, longest sequences first), ``sorted_indices`` and
    ``waste`` (share of padded cells).
    """
    lengths = check_lengths(lengths).cpu()
    if len(lengths) > MAX_SEQUENCES:
        raise ValueError(
            f"lengths has {len(lengths)} sequences; the picture labels at most {MAX_SEQUENCES}"
        )
    letters = string.ascii_uppercase
    # each token's value encodes (sequence, position), so the packed data can be read back as labels
    padded, _ = pad_sequences(
        [torch.arange(1, n + 1) + 1000 * b for b, n in enumerate(lengths.tolist())],
        padding_value=-1,
    )
    packed = pack(padded.unsqueeze(-1), lengths)  # (B, T) -> (B, T, 1): one feature per step

    def label(value: int) -> str:
        return "" if value < 0 else f"{letters[value // 1000]}{value % 1000}"

    steps, start = [], 0
    for size in packed.batch_sizes.tolist():
        steps.append([label(int(v)) for v in packed.data[start : start + size, 0]])
        start += size
    mask = lengths_to_mask(lengths)
    return {
        "padded": [[label(int(v)) for v in row] for row in padded],
        "mask": mask,
        "batch_sizes": packed.batch_sizes.tolist(),
        "packed": steps,
        "sorted_indices": packed.sorted_indices.tolist(),
        "waste": 1.0 - float(mask.double().mean()),
    }


_CELL = (
    "border:1px solid #bbb;padding:2px 6px;text-align:center;font-family:monospace;min-width:2.2em"
)


def _table(title: str, header: list[str], rows: list[tuple[str, list[tuple[str, str]]]]) -> str:
    head = "".join(f"<th style='{_CELL}'>{html.escape(h)}</th>" for h in ["", *header])
    body = "".join(
        f"<tr><th style='{_CELL}'>{html.escape(name)}</th>"
        + "".join(
            f"<td style='{_CELL};background:{color}'>{html.escape(text)}</td>"
            for text, color in cells
        )
        + "</tr>"
        for name, cells in rows
    )
    style = "border-collapse:collapse;margin:4px 0 10px"
    return f"<b>{html.escape(title)}</b><table style='{style}'>{head}{body}</table>"


def render_layout(layout: dict[str, Any]) -> str:
    """The HTML the widget shows for a `batch_layout`."""
    letters = string.ascii_uppercase
    width = len(layout["batch_sizes"])
    steps = [f"t={t}" for t in range(width)]
    real, pad = "#cfe3ff", "#f2f2f2"
    padded = [
        (letters[b], [(text or "0", real if text else pad) for text in row])
        for b, row in enumerate(layout["padded"])
    ]
    mask = [
        (letters[b], [("1" if m else "0", real if m else pad) for m in row.tolist()])
        for b, row in enumerate(layout["mask"])
    ]
    depth = max(layout["batch_sizes"])
    packed = [
        (
            f"slot {i}",
            [(step[i], real) if i < len(step) else ("", "white") for step in layout["packed"]],
        )
        for i in range(depth)
    ]
    sizes = [("batch_sizes", [(str(n), "white") for n in layout["batch_sizes"]])]
    return (
        _table(
            f"padded tensor (B={len(padded)}, T={width}); grey cells are padding, "
            f"{layout['waste']:.0%} of the batch",
            steps,
            padded,
        )
        + _table("mask = lengths_to_mask(lengths): 1 where real", steps, mask)
        + _table(
            "pack(...): what the RNN reads at each step (longest first)", steps, packed + sizes
        )
        + f"<div>sorted_indices = {layout['sorted_indices']} "
        "(unpack puts rows back in this batch's order)</div>"
    )


def padding_explorer(lengths: Sequence[int] = (5, 2, 7, 3), max_len: int = 12) -> Any:
    """A slider per sequence length; below them, the padded batch, its mask and the packed batch,
    kept in step."""
    import ipywidgets as widgets

    lengths = check_lengths(lengths, max_len=max_len).tolist()
    if len(lengths) > MAX_SEQUENCES:
        raise ValueError(
            f"lengths has {len(lengths)} sequences; the widget shows at most {MAX_SEQUENCES}"
        )
    sliders = [
        widgets.IntSlider(
            value=n,
            min=1,
            max=max_len,
            description=f"length {string.ascii_uppercase[b]}",
            continuous_update=True,
        )
        for b, n in enumerate(lengths)
    ]
    view = widgets.HTML()

    def update(_: Any = None) -> None:
        view.value = render_layout(batch_layout([s.value for s in sliders]))

    for slider in sliders:
        slider.observe(update, names="value")
    update()
    return widgets.VBox([*sliders, view])

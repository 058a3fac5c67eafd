"""Chapter 6 widget: how much of a data-parallel step goes to communication, for a model, N GPUs and
a link.

`comm_summary` computes what the widget shows (testable without a browser); `comm_explorer` wraps it
in sliders.
"""

from __future__ import annotations

from typing import Any

from ..checks import check_choice, check_number
from ..distributed.comm import LINKS, all_reduce_seconds, ring_bytes_per_worker

__all__ = ["comm_explorer", "comm_summary"]


def comm_summary(grad_mb: float, gpus: int, link: str, compute_ms: float) -> dict[str, Any]:
    """MB each GPU sends per step, the all-reduce's milliseconds and its share of a step whose
    ``compute_ms`` does not overlap with it, for ``grad_mb`` megabytes of gradients over ``gpus``
    GPUs on ``link`` (a key of LINKS)."""
    check_choice("link", link, LINKS)
    check_number("grad_mb", grad_mb, above=0)
    check_number("compute_ms", compute_ms, above=0)
    bandwidth, latency = LINKS[link]
    grad_bytes = round(grad_mb * 1e6)
    comm_ms = 1e3 * all_reduce_seconds(grad_bytes, gpus, bandwidth, latency)
    share = comm_ms / (comm_ms + compute_ms)
    return {
        "sent_mb": ring_bytes_per_worker(grad_bytes, gpus) / 1e6,
        "comm_ms": comm_ms,
        "share": share,
        "verdict": "communication-bound" if share > 0.5 else "compute-bound",
    }


def comm_explorer(grad_mb: float = 161.0, compute_ms: float = 50.0) -> Any:
    """Sliders for gradient size, GPUs, link and compute time; shows what one step costs in
    communication."""
    import ipywidgets as widgets

    def show(grad_mb: float, gpus: int, link: str, compute_ms: float) -> None:
        s = comm_summary(grad_mb, gpus, link, compute_ms)
        print(
            f"each GPU sends {s['sent_mb']:.0f} MB per step; all-reduce {s['comm_ms']:.1f} ms vs "
            f"{compute_ms:.0f} ms compute "
            f"→ {s['share']:.0%} of the step communicating ({s['verdict']})"
        )

    return widgets.interactive(
        show,
        grad_mb=widgets.FloatLogSlider(
            value=grad_mb, base=10, min=-1, max=3.5, description="gradient MB"
        ),
        gpus=widgets.IntSlider(value=8, min=2, max=64, description="GPUs"),
        link=widgets.Dropdown(options=list(LINKS), description="link"),
        compute_ms=widgets.FloatLogSlider(
            value=compute_ms, base=10, min=0, max=3, description="compute ms"
        ),
    )

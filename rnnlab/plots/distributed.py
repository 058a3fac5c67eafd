"""Figures of chapter 6: where a data-parallel step spends its time, what communication costs on N
GPUs, how far weights drift from one process, and a clocked pipeline's timeline with its idle
bubble."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..distributed.comm import CostRow
from ..distributed.pipeline import StageRun, measured_bubble


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size)
    return ax


def plot_step_split(rows: Sequence[Mapping[str, Any]], ax: Any = None) -> Any:
    """Bars per world size: a step's compute and all-reduce milliseconds, labelled with
    samples/s."""
    if not rows:
        raise ValueError("rows is empty: pass the rows of rnnlab.bench.ddp.measure")
    ax = _axes(ax, (5, 3))
    names = [f"{r['workers']} worker(s)" for r in rows]
    compute = [r["compute_ms"] for r in rows]
    comm = [r["comm_ms"] for r in rows]
    ax.bar(names, compute, label="compute (forward, backward, step)", color="tab:blue")
    ax.bar(names, comm, bottom=compute, label="all-reduce of the gradients", color="tab:orange")
    for i, r in enumerate(rows):
        ax.text(
            i,
            compute[i] + comm[i],
            f"{r['samples_per_second']:.0f} samples/s",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("ms per step (per worker)")
    ax.set_ylim(0, 1.25 * max(c + m for c, m in zip(compute, comm, strict=True)))
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_comm_share(rows: Sequence[CostRow], ax: Any = None, title: str = "") -> Any:
    """Share of a step spent in the all-reduce against the number of GPUs, one line per link."""
    if not rows:
        raise ValueError("rows is empty: pass the rows of rnnlab.distributed.comm.cost_table")
    ax = _axes(ax, (5, 3))
    for link in dict.fromkeys(r.link for r in rows):
        mine = [r for r in rows if r.link == link]
        ax.plot([r.world_size for r in mine], [r.comm_share for r in mine], marker="o", label=link)
    ax.set_xlabel("GPUs")
    ax.set_ylabel("share of the step communicating")
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_timeline(timeline: Sequence[StageRun], ax: Any = None, title: str = "") -> Any:
    """A clocked run's timeline: one row per stage (device), one box per job coloured by piece
    (micro-batch or time block), backward jobs hatched; white space is the bubble."""
    if not timeline:
        raise ValueError("timeline is empty: run a ClockedLSTM first")
    import matplotlib.pyplot as plt

    ax = _axes(ax, (6, 1.8))
    colors = plt.get_cmap("tab10")
    origin = min(r.start for r in timeline)
    for run in timeline:
        ax.barh(
            run.stage,
            1e3 * (run.end - run.start),
            left=1e3 * (run.start - origin),
            color=colors(run.piece % 10),
            edgecolor="black",
            linewidth=0.5,
            hatch="//" if run.phase == "backward" else None,
        )
    stages = sorted({r.stage for r in timeline})
    ax.set_yticks(stages, [f"device {s}" for s in stages])
    ax.invert_yaxis()
    ax.set_xlabel("ms (backward hatched)" if any(r.phase == "backward" for r in timeline) else "ms")
    ax.set_title(f"{title}  (idle {measured_bubble(timeline):.0%} of the device time)", fontsize=9)
    return ax


def plot_drift(drifts: Mapping[str, float], tolerance: float, ax: Any = None) -> Any:
    """Horizontal bars, log scale: the largest weight difference to the one-process run, per DDP
    setting, with the float32 rounding ``tolerance`` as a dashed line."""
    if not drifts:
        raise ValueError("drifts is empty: pass {setting: max |weight difference|}")
    ax = _axes(ax, (6, 0.5 + 0.45 * len(drifts)))
    names = list(drifts)
    values = [max(drifts[name], 1e-12) for name in names]  # log scale: an exact 0 is drawn at 1e-12
    ax.barh(names, values, color=["tab:green" if v <= tolerance else "tab:red" for v in values])
    ax.axvline(tolerance, color="black", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("max |w(DDP, 2 processes) − w(1 process)|  (dashed: float32 rounding)")
    return ax

"""Chapter 1 widgets: a text box scored live by the sentiment classifier, a slider for the forecast
horizon.

`sentiment_verdict` and `horizon_summary` compute what each widget shows, so they are testable
without a browser; `sentiment_box` and `horizon_explorer` wrap them in ipywidgets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..checks import check_int

__all__ = ["horizon_explorer", "horizon_summary", "sentiment_box", "sentiment_verdict"]


def sentiment_verdict(score: Callable[[list[str]], Sequence[float]], text: str) -> dict[str, Any]:
    """What the box shows for ``text``:
    ``{"positive": P(positive), "label": "positive"/"negative", "bar": ...}``, or ``{"error": ...}``
    for an empty text. ``score`` maps a list of texts to P(positive) for each."""
    if not isinstance(text, str) or not text.strip():
        return {"error": "type a sentence, e.g. 'The battery died after a day.'"}
    p = float(score([text])[0])
    return {
        "positive": p,
        "label": "positive" if p >= 0.5 else "negative",
        "bar": "█" * round(20 * p) + "░" * (20 - round(20 * p)),
    }


def sentiment_box(
    score: Callable[[list[str]], Sequence[float]],
    example: str = "The food was great but the service was slow.",
) -> Any:
    """A text box; every time the text changes, the classifier's P(positive) appears under it."""
    import ipywidgets as widgets

    text = widgets.Text(
        value=example,
        description="sentence",
        continuous_update=True,
        layout=widgets.Layout(width="70%"),
    )
    shown = widgets.HTML()

    def update(_: Any = None) -> None:
        verdict = sentiment_verdict(score, text.value)
        shown.value = (
            f"<i>{verdict['error']}</i>"
            if "error" in verdict
            else f"<code>{verdict['bar']}</code> P(positive) = {verdict['positive']:.2f} "
            f"→ <b>{verdict['label']}</b>"
        )

    text.observe(update, names="value")
    update()
    return widgets.VBox([text, shown])


def horizon_summary(
    truth: np.ndarray, forecasts: Mapping[str, np.ndarray], horizon: int
) -> dict[str, float]:
    """MAE of each model at ``horizon`` (1-based) months ahead; truth and forecasts are
    ``(N, k)``."""
    truth = np.asarray(truth)
    if truth.ndim != 2:
        raise ValueError(f"truth must be (N, k), got shape {truth.shape}")
    horizon = check_int("horizon", horizon, minimum=1, maximum=truth.shape[1])
    out = {}
    for name, values in forecasts.items():
        values = np.asarray(values)
        if values.shape != truth.shape:
            raise ValueError(
                f"forecasts[{name!r}] has shape {values.shape}, truth has {truth.shape}"
            )
        out[name] = float(np.abs(values[:, horizon - 1] - truth[:, horizon - 1]).mean())
    return out


def horizon_explorer(
    stamps: np.ndarray, truth: np.ndarray, forecasts: Mapping[str, np.ndarray]
) -> Any:
    """A slider over the horizon (months ahead): forecasts made that far ahead against the truth,
    with each model's MAE.

    ``stamps`` ``(N,)`` are the times of each window's first target; row i of
    ``truth``/``forecasts`` ``(N, k)`` holds the k values after window i, so horizon h is plotted at
    ``stamps + (h - 1) / 12``.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from ..plots.architectures import plot_forecast

    truth = np.asarray(truth)
    horizon_summary(truth, forecasts, 1)  # checks the shapes before any widget is built

    def show(horizon: int) -> dict[str, float]:
        errors = horizon_summary(truth, forecasts, horizon)
        labelled = {
            f"{name} (MAE {errors[name]:.1f})": np.asarray(values)[:, horizon - 1]
            for name, values in forecasts.items()
        }
        plot_forecast(
            np.asarray(stamps) + (horizon - 1) / 12,
            truth[:, horizon - 1],
            labelled,
            horizon=horizon,
        )
        plt.show()
        return errors

    return widgets.interactive(
        show,
        horizon=widgets.IntSlider(
            value=truth.shape[1], min=1, max=truth.shape[1], description="months ahead"
        ),
    )

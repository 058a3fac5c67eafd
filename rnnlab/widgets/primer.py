"""Chapter 0 widget: a prompt box and a temperature slider over a character-level language model.

`generation_view` computes what the widget shows (testable without a browser); `generation_box`
wraps it in ipywidgets and shows it at once for its default prompt and temperature, so a page read
without a kernel shows that default view.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from ..checks import check_number

__all__ = ["generation_box", "generation_view"]

Generate = Callable[[str, float], Sequence[str]]


def generation_view(generate: Generate, prompt: str, temperature: float) -> dict[str, Any]:
    """``{"texts": [...], "temperature": t}`` for ``prompt``, or ``{"error": ...}`` when the prompt
    cannot be read (``generate`` raised ``ValueError``, e.g. a character the model never saw).

    ``generate(prompt, temperature)`` returns the sampled texts.
    """
    if not callable(generate):
        raise TypeError(
            f"generate must be a function (prompt, temperature) -> texts, got "
            f"{type(generate).__name__}"
        )
    temperature = check_number("temperature", temperature, above=0)
    if not isinstance(prompt, str):
        return {"error": f"the prompt must be text, got {type(prompt).__name__}"}
    try:
        texts = list(generate(prompt, temperature))
    except ValueError as err:
        return {"error": str(err)}
    return {"texts": texts, "temperature": temperature}


def generation_box(
    generate: Generate,
    prompt: str = "i think ",
    temperature: float = 1.0,
    *,
    max_temperature: float = 2.0,
) -> Any:
    """A text box for the prompt and a temperature slider; each change samples new texts."""
    import ipywidgets as widgets

    check_number("temperature", temperature, above=0, maximum=max_temperature)
    box = widgets.Text(
        value=prompt, description="prompt", continuous_update=False, layout={"width": "60%"}
    )
    slider = widgets.FloatSlider(
        value=temperature,
        min=0.1,
        max=max_temperature,
        step=0.1,
        description="temperature",
        continuous_update=False,
    )
    shown = widgets.HTML()

    def update(_: Any = None) -> None:
        view = generation_view(generate, box.value, slider.value)
        if "error" in view:
            shown.value = f"<i>{html.escape(view['error'])}</i>"
        else:
            items = "".join(f"<li><code>{html.escape(t)}</code></li>" for t in view["texts"])
            shown.value = f"<ul>{items}</ul>"

    box.observe(update, names="value")
    slider.observe(update, names="value")
    update()
    return widgets.VBox([box, slider, shown])

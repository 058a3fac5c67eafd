"""The chapter 2 translate box: type a date or an English sentence, see the translation, the beam
candidates with their scores, and where the model looked (the attention heat map).

`describe` computes everything the box shows (testable without a browser); `translate_box` builds
the ipywidgets around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..translate import Translator

__all__ = ["describe", "translate_box"]


def describe(
    translator: Translator, text: str, *, beam_width: int = 3, length_penalty: float = 1.0
) -> dict[str, Any]:
    """What the box shows for ``text``: ``{"error"}`` for unusable input, else the translation, the
    candidates ``[(text, score)]`` best first, the unknown input tokens, and ``attention`` as
    ``(source tokens, output tokens, weights)`` for the best candidate (None for a model without
    attention).
    """
    if not isinstance(translator, Translator):
        raise TypeError(f"translator must be an rnnlab Translator, got {type(translator).__name__}")
    try:
        unknown = translator.unknown(text)
        candidates = translator.candidates(
            text, beam_width=beam_width, length_penalty=length_penalty, as_tokens=True
        )
    except ValueError as err:
        return {"error": str(err)}
    best = candidates[0][0]
    attention = (
        translator.attention(text, translation_tokens=best)
        if translator.model.has_attention
        else None
    )
    return {
        "translation": translator.detokenize(best),
        "candidates": [(translator.detokenize(words), score) for words, score in candidates],
        "unknown": unknown,
        "attention": attention,
    }


def translate_box(
    translators: Mapping[str, Translator], examples: Mapping[str, str] | None = None
) -> Any:
    """A widget: pick a model (e.g. ``{"dates": …, "English→French": …}``), type, and watch it
    translate."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from ..plots.translation import plot_attention

    if not translators:
        raise ValueError("translators is empty: pass {name: Translator}")
    examples = dict(examples or {})
    names = list(translators)
    task = widgets.Dropdown(options=names, value=names[0], description="model")
    text = widgets.Text(
        value=examples.get(names[0], ""),
        description="input",
        continuous_update=False,
        layout=widgets.Layout(width="60%"),
    )
    beam = widgets.IntSlider(value=3, min=1, max=8, description="beam width")
    out = widgets.Output()

    def show(*_: Any) -> None:
        info = describe(translators[task.value], text.value, beam_width=beam.value)
        out.clear_output(wait=True)
        with out:
            if "error" in info:
                print("⚠", info["error"])
                return
            print("translation:", info["translation"])
            if info["unknown"]:
                print("unknown to the model (read as <unk>):", " ".join(info["unknown"]))
            for i, (candidate, score) in enumerate(info["candidates"], 1):
                print(f"  {i}. {score:8.3f}  {candidate}")
            if info["attention"] is not None:
                fig = plot_attention(*info["attention"], title="where each output token looked")
                display(fig)
                plt.close(fig)

    def switch(*_: Any) -> None:
        text.value = examples.get(task.value, text.value)
        show()

    task.observe(switch, names="value")
    text.observe(show, names="value")
    beam.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([task, beam]), text, out])

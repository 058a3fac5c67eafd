"""A static picture of a widget's current view, for pages read without a running kernel.

A live widget needs a kernel; the course site, nbviewer and code hosts show a notebook without one.
`static_html` walks a widget tree and writes what it shows now (its default view right after it was
built): text and HTML views, images, and each control as its label and value.
`register_static_fallback` adds that HTML to every widget's display in the running IPython, beside
the live-widget output, so JupyterLab still shows the live widget and a page without a kernel shows
the static one. Output widgets draw nothing here: without a front end to capture them, what they
print and plot already reaches the cell's own outputs.
"""

from __future__ import annotations

import base64
import html
from typing import Any

__all__ = ["register_static_fallback", "static_html", "static_view"]

_CONTROL = (
    "display:inline-block;margin:2px 8px 2px 0;padding:1px 6px;"
    "border:1px solid #ccc;border-radius:3px;font-size:90%"
)


def _control(widget: Any) -> str:
    label = html.escape(str(getattr(widget, "description", "") or type(widget).__name__))
    value = getattr(widget, "label", None) if hasattr(widget, "options") else None
    value = getattr(widget, "value", "") if value is None else value
    tip = "static view: run the notebook to use this control"
    return (
        f"<span style='{_CONTROL}' title='{tip}'>{label}: <b>{html.escape(str(value))}</b></span>"
    )


def static_html(widget: Any) -> str:
    """HTML showing what ``widget`` (an ipywidgets widget, possibly a box of others) shows now."""
    import ipywidgets as widgets

    if not isinstance(widget, widgets.Widget):
        raise TypeError(f"widget must be an ipywidgets Widget, got {type(widget).__name__}")
    if isinstance(widget, widgets.Output):
        return ""
    if isinstance(widget, (widgets.HTML, widgets.HTMLMath)):
        return f"<div>{widget.value}</div>"
    if isinstance(widget, widgets.Label):
        return f"<div>{html.escape(widget.value)}</div>"
    if isinstance(widget, widgets.Image):
        data = base64.b64encode(bytes(widget.value)).decode()
        return f"<img src='data:image/{html.escape(widget.format)};base64,{data}' alt='image'/>"
    if isinstance(widget, widgets.Box):
        direction = "row" if isinstance(widget, widgets.HBox) else "column"
        inner = "".join(static_html(child) for child in widget.children)
        style = f"display:flex;flex-direction:{direction};gap:6px;align-items:flex-start"
        return f"<div style='{style}'>{inner}</div>"
    if isinstance(widget, widgets.ValueWidget):
        return _control(widget)
    return ""


def register_static_fallback() -> bool:
    """In IPython, give every widget's display a ``text/html`` static view; False outside
    IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import ipywidgets as widgets

    shell.display_formatter.formatters["text/html"].for_type(widgets.DOMWidget, static_view)
    return True


def static_view(widget: Any) -> str:
    """`static_html` in a block marked ``rnnlab-static-widget`` (what the site's browser check looks
    for)."""
    return f"<div class='rnnlab-static-widget'>{static_html(widget)}</div>"

"""Every widget has a static view for pages read without a kernel (the course site, code hosts)."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from rnnlab.widgets.sequences import padding_explorer
from rnnlab.widgets.static import register_static_fallback, static_html


def test_static_view_shows_controls_html_and_images():
    box = widgets.VBox(
        [
            widgets.HBox(
                [
                    widgets.IntSlider(value=4, description="length A"),
                    widgets.Dropdown(
                        options=[("clip 0", 0), ("clip 1", 1)], value=1, description="clip"
                    ),
                ]
            ),
            widgets.HTML("<b>P = 0.9</b>"),
            widgets.Image(value=b"\x89PNG", format="png"),
            widgets.Output(),
        ]
    )
    page = static_html(box)
    assert "length A: <b>4</b>" in page and "clip: <b>clip 1</b>" in page
    assert "<b>P = 0.9</b>" in page and "data:image/png;base64,iVBORw==" in page
    assert page.count("flex-direction:row") == 1


def test_static_view_of_a_course_widget_is_its_default_view():
    page = static_html(padding_explorer(lengths=(3, 1)))
    assert "length A: <b>3</b>" in page and "length B: <b>1</b>" in page
    assert "padded tensor (B=2, T=3)" in page  # the table the widget draws for its default lengths


def test_static_view_rejects_what_is_not_a_widget():
    with pytest.raises(TypeError, match="widget must be an ipywidgets Widget"):
        static_html("<b>no</b>")


def test_display_carries_the_live_widget_and_its_static_view():
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.display_formatter.formatters[
        "text/html"
    ].enabled = True  # as in a kernel (the test shell turns it off)
    assert register_static_fallback()
    data, _ = shell.display_formatter.format(padding_explorer(lengths=(2,)))
    assert "application/vnd.jupyter.widget-view+json" in data  # JupyterLab shows the live widget
    assert "length A: <b>2</b>" in data["text/html"]  # a page without a kernel shows this
    assert data["text/html"].startswith("<div class='rnnlab-static-widget'>")

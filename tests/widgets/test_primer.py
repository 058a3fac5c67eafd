"""rnnlab.widgets.primer: the prompt box and temperature slider over a text generator."""

import pytest

from rnnlab.widgets.primer import generation_box, generation_view
from rnnlab.widgets.static import static_html


def fake_generate(prompt, temperature):
    if "#" in prompt:
        raise ValueError("prompt holds characters the model never saw: ['#']")
    return [f"{prompt}<{temperature:.1f}>"] * 2


def test_view_shows_texts_or_the_reason():
    assert generation_view(fake_generate, "hi", 0.5) == {
        "texts": ["hi<0.5>"] * 2,
        "temperature": 0.5,
    }
    assert "never saw" in generation_view(fake_generate, "#", 1.0)["error"]
    with pytest.raises(ValueError, match="temperature"):
        generation_view(fake_generate, "hi", 0.0)
    with pytest.raises(TypeError, match="generate"):
        generation_view("not a function", "hi", 1.0)


def test_box_reacts_and_renders_a_static_default_view():
    box = generation_box(fake_generate, prompt="go ", temperature=1.0)
    prompt, slider, shown = box.children
    assert "go &lt;1.0&gt;" in shown.value and "go &lt;1.0&gt;" in static_html(box)
    slider.value = 1.5
    assert "go &lt;1.5&gt;" in shown.value
    prompt.value = "#"
    assert "never saw" in shown.value
    with pytest.raises(ValueError, match="temperature"):
        generation_box(fake_generate, temperature=3.0)

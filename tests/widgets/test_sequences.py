"""rnnlab.widgets.sequences: the logic behind chapter 5's padding widget."""

import pytest

from rnnlab.widgets.sequences import batch_layout, padding_explorer, render_layout


def test_batch_layout_is_what_torch_packs():
    layout = batch_layout([3, 1, 4])
    assert layout["padded"] == [
        ["A1", "A2", "A3", ""],
        ["B1", "", "", ""],
        ["C1", "C2", "C3", "C4"],
    ]
    assert layout["batch_sizes"] == [3, 2, 2, 1]
    assert layout["packed"] == [["C1", "A1", "B1"], ["C2", "A2"], ["C3", "A3"], ["C4"]]
    assert layout["sorted_indices"] == [2, 0, 1]
    assert int(layout["mask"].sum()) == 8 and layout["waste"] == pytest.approx(4 / 12)
    assert "batch_sizes" in render_layout(layout)


def test_explorer_follows_its_sliders():
    ui = padding_explorer([2, 3], max_len=6)
    *sliders, view = ui.children
    assert len(sliders) == 2 and "B3" in view.value and "A3" not in view.value
    sliders[0].value = 5
    assert "A5" in view.value


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: batch_layout([]), ValueError, "lengths"),
        (lambda: batch_layout([2, 0]), ValueError, "lengths"),
        (lambda: batch_layout([1] * 27), ValueError, "lengths"),
        (lambda: padding_explorer([3, 9], max_len=6), ValueError, "lengths"),
    ],
)
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()

"""Chapter 5's widget and figures: the logic behind the picture, and that each figure draws."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from rnnlab.bench.padding import lognormal_lengths  # noqa: E402
from rnnlab.plots.sequences import plot_batches, plot_exposure_bias, plot_padding_bench  # noqa: E402
from rnnlab.sequences import BucketBatchSampler  # noqa: E402
from rnnlab.widgets.sequences import batch_layout, padding_explorer, render_layout  # noqa: E402


def test_batch_layout_is_what_torch_packs():
    layout = batch_layout([3, 1, 4])
    assert layout["padded"] == [["A1", "A2", "A3", ""], ["B1", "", "", ""], ["C1", "C2", "C3", "C4"]]
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


@pytest.mark.parametrize("call, error, name", [
    (lambda: batch_layout([]), ValueError, "lengths"), (lambda: batch_layout([2, 0]), ValueError, "lengths"),
    (lambda: batch_layout([1] * 27), ValueError, "lengths"), (lambda: padding_explorer([3, 9], max_len=6), ValueError, "lengths"),
])
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_figures_draw():
    lengths = lognormal_lengths(300)
    naive = [list(range(i, min(i + 32, 300))) for i in range(0, 300, 32)]
    assert plot_batches(lengths, {"naive": naive, "bucketed": list(BucketBatchSampler(lengths, 32))}, examples=3).axes
    result = {"waste": {"naive": 0.7, "bucketed": 0.05}, "tokens_per_s": {"naive": 1.0, "packed": 0.8, "bucketed": 3.5},
              "speedup_vs_naive": {"naive": 1.0, "packed": 0.8, "bucketed": 3.5}}
    assert plot_padding_bench(result).axes
    report = {"by_position": [(0.9, 0.8), (0.8, 0.5)]}
    assert plot_exposure_bias({"teacher forcing": report, "scheduled sampling": report}).axes
    with pytest.raises(ValueError, match="batches"):
        plot_batches(lengths, {})
    with pytest.raises(ValueError, match="examples"):
        plot_batches(lengths, {"naive": naive}, examples=0)

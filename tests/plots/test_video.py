"""rnnlab.plots.video: chapter 3's figures draw and refuse bad input."""

import pytest

from rnnlab import History
from rnnlab.plots.video import plot_confusion, plot_frames, plot_learning_curves


def test_plots_draw(clips):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_frames(
        clips.videos[:2], clips.lengths[:2], titles=[["x"] * 8] * 2, row_labels=["one", "two"]
    )
    assert len(fig.axes) == 16
    ax = plot_confusion([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"], title="t")
    assert ax.get_title() == "t" and len(ax.texts) == 9
    history = History([{"epoch": 1.0, "val_acc": 0.5}, {"epoch": 2.0, "val_acc": 0.8}])
    ax = plot_learning_curves({"run": history}, target=0.9)
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="one entry per clip"):
        plot_frames(clips.videos[:2], clips.lengths[:3])
    with pytest.raises(TypeError, match="must be a History"):
        plot_learning_curves({"run": [0.5]})
    plt.close("all")

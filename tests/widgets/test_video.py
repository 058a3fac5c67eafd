"""rnnlab.widgets.video: the clip player shows the running answer."""

import pytest
import torch

from rnnlab.widgets.video import clip_player, frame_png, prediction_html


def test_clip_player_shows_the_running_answer(clips):
    probs = torch.full((6, 8, 3), 0.1).index_fill(2, torch.tensor([1]), 0.8)
    truth = [["a"] * 8 for _ in range(6)]
    ui = clip_player(clips.videos, clips.lengths, probs, ["a", "b", "c"], truth=truth)
    controls, view = ui.children
    clip_choice, play, slider = controls.children
    image, text = view.children
    assert (
        image.value[:4] == b"\x89PNG"
        and "after frame 1" in text.value
        and "truth: <b>a</b>" in text.value
    )
    slider.value = 2
    assert "after frame 3" in text.value
    clip_choice.value = 3
    assert slider.value == 0 and slider.max == int(clips.lengths[3]) - 1 == play.max
    html = prediction_html(torch.tensor([0.1, 0.7, 0.2]), ["a", "b", "c"], 4, "b", top=2)
    assert html.index(" b ") < html.index(" c ") and " a " not in html and "0.70" in html
    with pytest.raises(ValueError, match="probabilities must be"):
        clip_player(clips.videos, clips.lengths, probs[:, :, :2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="frame must be 2-D"):
        frame_png(clips.videos[0])

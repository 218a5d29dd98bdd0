"""The sequence tasks of the ccRNN and BP(λ) experiments: line drawing, image rows, drawing targets, scene
captions and the caption-feature loader, the trajectory-irregularity (dysmetria) measure, bad inputs."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.data.sequences import (
    circle_points,
    digit_templates,
    image_rows,
    line_drawing,
    line_targets,
    load_caption_features,
    scene_captions,
    target_mask,
    trajectory_irregularity,
)
from brainlearn.errors import ConfigError, DataError, ShapeError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_line_drawing_task():
    x, y, label = line_drawing(500, generator=gen())
    assert x.shape == (500, 10, 1) and y.shape == (500, 10, 2)
    assert torch.all(x[:, 1:] == 0)
    torch.testing.assert_close(x[:, 0, 0], 0.1 * (label - 3).float())
    ends = y[:, -1]
    stay = label == 3
    assert torch.all(ends[stay] == 0)
    torch.testing.assert_close(ends[~stay].norm(dim=1), torch.full(((~stay).sum(),), 10.0))
    assert len({tuple(e.round().tolist()) for e in ends}) == 7
    assert trajectory_irregularity(y) < 1e-10  # straight lines at constant speed
    assert target_mask(10, 2).tolist() == [True, False] * 5
    assert circle_points(7).shape == (7, 2)


def test_image_rows_and_drawing_targets():
    imgs = torch.rand(4, 3, 5, 6, generator=gen())
    rows = image_rows(imgs)
    assert rows.shape == (4, 5, 18)
    torch.testing.assert_close(rows[1, 2, 6:12], imgs[1, 1, 2])
    lines = line_targets(torch.tensor([0, 5]), 28)
    assert lines.shape == (2, 28, 2)
    torch.testing.assert_close(lines[:, -1].norm(dim=1), torch.tensor([10.0, 10.0]))
    tmpl = digit_templates(28)
    assert tmpl.shape == (10, 28, 2) and tmpl.min() >= 0 and tmpl.max() <= 1
    assert len({tuple(t.flatten().round(decimals=3).tolist()) for t in tmpl}) == 10
    steps = (tmpl[:, 1:] - tmpl[:, :-1]).norm(dim=2)  # equal arc length per step (chords are shorter at corners)
    arc = steps.max(dim=1, keepdim=True).values
    assert torch.isclose(steps, arc.expand_as(steps), atol=1e-5).float().mean() > 0.7


def test_scene_captions_are_grounded_in_the_image():
    imgs, cap = scene_captions(20, generator=gen())
    assert imgs.shape == (20, 3, 32, 32) and cap.features.shape == (20, 3 * 32 * 32)
    assert len(cap.vocab) < 30 and torch.all(cap.lengths == 17)
    text = cap.decode(cap.tokens[0])
    assert text.startswith("a ") and " and a " in text
    same = scene_captions(20, generator=gen())[1]
    assert torch.equal(same.tokens, cap.tokens)


def test_caption_feature_loader(tmp_path):
    np.savez(tmp_path / "feats.npz", ids=np.array([7, 9]), features=np.ones((2, 4)))
    ann = {"annotations": [{"image_id": 7, "caption": "A dog runs."}, {"image_id": 9, "caption": "a dog sits"},
                           {"image_id": 3, "caption": "no features"}]}
    (tmp_path / "cap.json").write_text(json.dumps(ann))
    data = load_caption_features(tmp_path / "feats.npz", tmp_path / "cap.json", min_count=2)
    assert len(data) == 2 and data.features.shape == (2, 4)
    assert data.decode(data.tokens[0]) == "a dog"  # 'runs' is rare -> <unk>, dropped in decode
    assert data.lengths.tolist() == [5, 5]
    with pytest.raises(DataError, match="does not exist"):
        load_caption_features(tmp_path / "missing.npz", tmp_path / "cap.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match="COCO"):
        load_caption_features(tmp_path / "feats.npz", tmp_path / "bad.json")


@settings(max_examples=25, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.1, 3), st.integers(3, 12))
def test_irregularity_is_zero_for_lines_and_translation_invariant(ax, ay, speed, T):
    t = torch.arange(T, dtype=torch.float64)[:, None]
    line = (torch.tensor([[ax, ay]], dtype=torch.float64) + speed * t * torch.tensor([[0.6, 0.8]],
                                                                                     dtype=torch.float64))[None]
    assert float(trajectory_irregularity(line)) < 1e-20
    wiggle = line + torch.randn(1, T, 2, generator=gen(T), dtype=torch.float64)
    shifted = wiggle + torch.tensor([ax, ay], dtype=torch.float64)
    assert float(trajectory_irregularity(shifted)) == pytest.approx(float(trajectory_irregularity(wiggle)))
    assert float(trajectory_irregularity(2 * wiggle)) == pytest.approx(4 * float(trajectory_irregularity(wiggle)))


def test_irregularity_split_by_centres_averages_back_to_the_whole():
    y = torch.randn(3, 10, 2, generator=gen(0), dtype=torch.float64)
    at_targets = target_mask(10, 2)
    on, off = trajectory_irregularity(y, at_targets), trajectory_irregularity(y, ~at_targets)
    # interior steps 1..8: four target centres (2, 4, 6, 8) and four target-free ones (1, 3, 5, 7)
    assert float(trajectory_irregularity(y)) == pytest.approx(float(on + off) / 2)
    manual = (y[:, 2:] - 2 * y[:, 1:-1] + y[:, :-2]).pow(2).sum(-1)[:, 0::2].mean()  # centres 1, 3, 5, 7
    assert float(off) == pytest.approx(float(manual))
    with pytest.raises(ShapeError, match="bool mask"):
        trajectory_irregularity(y, torch.ones(9, dtype=torch.bool))
    with pytest.raises(ShapeError, match="no interior"):
        trajectory_irregularity(y, torch.arange(10) == 0)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="odd"):
        line_drawing(5, n_cues=4)
    with pytest.raises(ShapeError, match="3 time steps"):
        trajectory_irregularity(torch.zeros(2, 2, 2))
    with pytest.raises(ShapeError, match="images"):
        image_rows(torch.zeros(3, 28, 28))
    with pytest.raises(ConfigError, match="interval"):
        target_mask(10, 0)


def test_image_rows():
    images = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    assert torch.equal(image_rows(images)[1, 2], images[1, 0, 2])

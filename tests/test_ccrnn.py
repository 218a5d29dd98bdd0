"""ccRNN model, tasks and measures: exactness at initialisation, shapes, properties, bad inputs."""

import json
import math

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
from brainlearn.models.ccrnn import (
    CaptionModel,
    CorticoCerebellarRNN,
    bits_per_word,
    certainty,
    drawing_mse,
    gradient_cosine,
    last_step_cross_entropy,
    make_optimizer,
    next_word_cross_entropy,
    sparse_mse_loss,
    update,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_ccrnn_at_initialisation_is_truncated_bptt():
    """Zero-initialised cerebellum: ccRNN's first update equals the cRNN's."""
    x, y, _ = line_drawing(8, generator=gen(1))
    cc = CorticoCerebellarRNN(1, 2, 12, (16, 16), window=1, generator=gen()).double()
    c = CorticoCerebellarRNN(1, 2, 12, None, window=1, generator=gen()).double()
    for a, b in zip(cc.cortex_parameters(), c.parameters()):
        assert torch.equal(a, b)
    loss = sparse_mse_loss(y.double(), 2)
    cc.accumulate_gradients(x.double(), loss)
    c.accumulate_gradients(x.double(), loss)
    for a, b in zip(cc.cortex_parameters(), c.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=0)
    # ...and after one full update step (Adam + global clip), the cortices are still identical
    cc2 = CorticoCerebellarRNN(1, 2, 12, (16, 16), window=1, generator=gen())
    c2 = CorticoCerebellarRNN(1, 2, 12, None, window=1, generator=gen())
    for m in (cc2, c2):
        update(m, make_optimizer(m, 1e-3), x, sparse_mse_loss(y, 2), clip=0)
    for a, b in zip(cc2.cortex_parameters(), c2.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_same_seed_same_model_and_inference_without_cerebellum():
    a = CorticoCerebellarRNN(3, 2, 8, (4,), generator=gen(5))
    b = CorticoCerebellarRNN(3, 2, 8, (4,), generator=gen(5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    x = torch.randn(4, 6, 3, generator=gen())
    with torch.no_grad():
        for p in a.cerebellum.parameters():
            p.add_(1.0)
        torch.testing.assert_close(a(x), b(x))  # the cerebellum plays no part at inference
    a.lesion_cerebellum()
    a.lesion_inferior_olive()
    assert not a.inject_sg and not a.learn_sg


def test_sparse_mse_loss_windows_sum_to_the_sequence_loss():
    y, target = torch.randn(3, 10, 2, generator=gen()), torch.randn(3, 10, 2, generator=gen(1))
    loss = sparse_mse_loss(target, 2)
    assert loss(y[:, 1:2], 1) is None
    torch.testing.assert_close(loss(y[:, 4:5], 4), ((y[:, 4] - target[:, 4]) ** 2).mean())
    torch.testing.assert_close(loss(y, 0), ((y[:, ::2] - target[:, ::2]) ** 2).mean())
    torch.testing.assert_close(loss(y[:, 3:7], 3), ((y[:, 4:7:2] - target[:, 4:7:2]) ** 2).mean())
    labels = torch.tensor([0, 1, 2])
    ce = last_step_cross_entropy(labels, 10)
    assert ce(torch.randn(3, 3, 5), 0) is None and ce(torch.randn(3, 2, 5), 8).ndim == 0


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


def test_caption_model_trains_image_layer_through_update():
    _, cap = scene_captions(16, 6, generator=gen())
    model = CaptionModel(cap.features.shape[1], len(cap.vocab), 8, 12, (16,), window=4, generator=gen(1))
    assert model(cap.tokens, cap.features).shape == (16, cap.tokens.shape[1], len(cap.vocab))
    before = model.image.weight.detach().clone()
    update(model, make_optimizer(model, 1e-2), cap.tokens, next_word_cross_entropy(cap.tokens, cap.lengths),
           clip=1.0, clip_cerebellum=False, state0=model.state0(cap.features))
    assert not torch.equal(before, model.image.weight)  # the gradient reaching h_0 trains the image layer
    again = CaptionModel(cap.features.shape[1], len(cap.vocab), 8, 12, (16,), window=4, generator=gen(1))
    assert torch.equal(before, again.image.weight)


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


def test_measures():
    assert certainty(torch.zeros(5, 4)) == pytest.approx(0.25)
    tokens = torch.tensor([[1, 4, 5, 2, 0]])
    lengths = torch.tensor([4])
    assert bits_per_word(torch.zeros(1, 5, 8), tokens, lengths) == pytest.approx(3.0)
    loss = next_word_cross_entropy(tokens, lengths)
    assert float(loss(torch.zeros(1, 5, 8), 0)) == pytest.approx(math.log(8))
    assert loss(torch.zeros(1, 2, 8), 3) is None
    g = torch.randn(3, 4, 6, generator=gen())
    assert gradient_cosine(g, 2 * g) == pytest.approx(1.0)
    assert gradient_cosine(g, -g) == pytest.approx(-1.0)
    assert math.isnan(gradient_cosine(g, torch.zeros_like(g)))
    assert drawing_mse(torch.zeros(2, 3, 2), torch.ones(2, 3, 2)) == pytest.approx(2.0)


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


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 1000), st.floats(0.1, 10))
def test_gradient_cosine_is_scale_invariant_and_bounded(seed, scale):
    a, b = torch.randn(2, 5, 4, generator=gen(seed)), torch.randn(2, 5, 4, generator=gen(seed + 1))
    c = gradient_cosine(a, b)
    assert -1 <= c <= 1
    assert gradient_cosine(scale * a, b) == pytest.approx(c, abs=1e-6)  # float32 rounding of scale * a


def test_bad_inputs():
    with pytest.raises(ConfigError, match="cell"):
        CorticoCerebellarRNN(1, 2, cell="transformer")
    with pytest.raises(ConfigError, match="sizes"):
        CorticoCerebellarRNN(0, 2)
    with pytest.raises(ConfigError, match="odd"):
        line_drawing(5, n_cues=4)
    with pytest.raises(ShapeError, match="3 time steps"):
        trajectory_irregularity(torch.zeros(2, 2, 2))
    with pytest.raises(ShapeError, match="images"):
        image_rows(torch.zeros(3, 28, 28))
    with pytest.raises(ShapeError, match="shapes differ"):
        gradient_cosine(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ConfigError, match="interval"):
        target_mask(10, 0)
    with pytest.raises(ShapeError):
        CorticoCerebellarRNN(1, 2, 4, generator=gen())(torch.zeros(2, 5, 3))

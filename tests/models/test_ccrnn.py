"""ccRNN model and measures: exactness at initialisation, shapes, properties, bad inputs."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.data.sequences import (
    line_drawing,
    scene_captions,
)
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.ccrnn import (
    CaptionModel,
    CaptionModelConfig,
    CorticoCerebellarRNN,
    CorticoCerebellarRNNConfig,
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


def config(n_in, n_out, n_hidden=50, cerebellum=(400, 400), **kw):
    return CorticoCerebellarRNNConfig(n_in=n_in, n_out=n_out, n_hidden=n_hidden, cerebellum=cerebellum, **kw)


def test_ccrnn_at_initialisation_is_truncated_bptt():
    """Zero-initialised cerebellum: ccRNN's first update equals the cRNN's."""
    x, y, _ = line_drawing(8, generator=gen(1))
    cc = CorticoCerebellarRNN(config(1, 2, 12, (16, 16), window=1), generator=gen()).double()
    c = CorticoCerebellarRNN(config(1, 2, 12, None, window=1), generator=gen()).double()
    for a, b in zip(cc.cortex_parameters(), c.parameters()):
        assert torch.equal(a, b)
    loss = sparse_mse_loss(y.double(), 2)
    cc.accumulate_gradients(x.double(), loss)
    c.accumulate_gradients(x.double(), loss)
    for a, b in zip(cc.cortex_parameters(), c.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=0)
    # ...and after one full update step (Adam + global clip), the cortices are still identical
    cc2 = CorticoCerebellarRNN(config(1, 2, 12, (16, 16), window=1), generator=gen())
    c2 = CorticoCerebellarRNN(config(1, 2, 12, None, window=1), generator=gen())
    for m in (cc2, c2):
        update(m, make_optimizer(m, 1e-3), x, sparse_mse_loss(y, 2), clip=0)
    for a, b in zip(cc2.cortex_parameters(), c2.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_same_seed_same_model_and_inference_without_cerebellum():
    a = CorticoCerebellarRNN(config(3, 2, 8, (4,)), generator=gen(5))
    b = CorticoCerebellarRNN(config(3, 2, 8, (4,)), generator=gen(5))
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


def test_caption_model_trains_image_layer_through_update():
    _, cap = scene_captions(16, 6, generator=gen())
    caption = CaptionModelConfig(n_features=cap.features.shape[1], n_vocab=len(cap.vocab), embed=8, n_hidden=12,
                                 cerebellum=(16,), window=4)
    model = CaptionModel(caption, generator=gen(1))
    assert model(cap.tokens, cap.features).shape == (16, cap.tokens.shape[1], len(cap.vocab))
    before = model.image.weight.detach().clone()
    update(model, make_optimizer(model, 1e-2), cap.tokens, next_word_cross_entropy(cap.tokens, cap.lengths),
           clip=1.0, clip_cerebellum=False, state0=model.state0(cap.features))
    assert not torch.equal(before, model.image.weight)  # the gradient reaching h_0 trains the image layer
    again = CaptionModel(caption, generator=gen(1))
    assert torch.equal(before, again.image.weight)


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
@given(st.integers(0, 1000), st.floats(0.1, 10))
def test_gradient_cosine_is_scale_invariant_and_bounded(seed, scale):
    a, b = torch.randn(2, 5, 4, generator=gen(seed)), torch.randn(2, 5, 4, generator=gen(seed + 1))
    c = gradient_cosine(a, b)
    assert -1 <= c <= 1
    assert gradient_cosine(scale * a, b) == pytest.approx(c, abs=1e-6)  # float32 rounding of scale * a


def test_bad_inputs():
    with pytest.raises(ConfigError, match="cell"):
        CorticoCerebellarRNNConfig(n_in=1, n_out=2, cell="transformer")
    with pytest.raises(ConfigError, match="n_in"):  # a size below 1: a declared bound of the config
        CorticoCerebellarRNNConfig(n_in=0, n_out=2)
    with pytest.raises(ShapeError, match="shapes differ"):
        gradient_cosine(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ShapeError):
        CorticoCerebellarRNN(config(1, 2, 4), generator=gen())(torch.zeros(2, 5, 3))

"""Stacked generative models (the VAE family): each member's posterior or prior noise is drawn beforehand from
its own generator (``draw_noise``, the order its loss draws in) and handed in; every member equals its model
trained alone by :class:`~brainlearn.models.generative.Trainer`."""

import pytest
import torch

from brainlearn.ensemble import Ensemble, StackedAdam
from brainlearn.errors import ConfigError
from brainlearn.models.generative import FAMILIES, Trainer, build_model
from brainlearn.runtime import make_generator
from brainlearn.runtime.seeding import isolated_rng

# vmap's per-member fallback (an op without a batching rule) would loop over the members: never on these paths
pytestmark = pytest.mark.filterwarnings("error:There is a performance drop")

SEEDS, LRS, STEPS, BATCH = (0, 3, 6), (1e-3, 2e-3, 5e-4), 100, 4
SHAPE = (1, 16, 16)  # the burgess architecture at 16 pixels: two convolutions, two transposed convolutions
STACKED = ("ae", "vae", "cci-vae", "wae-mmd")


def _model(kind, seed, dtype):
    config = FAMILIES[kind][1](n_latent=3, **({"c_steps": 50} if kind == "cci-vae" else {}))
    with isolated_rng(seed):  # the generative models initialise from torch's global generator
        return build_model(kind, SHAPE, config).to(dtype)


@pytest.mark.parametrize("kind", STACKED)
@pytest.mark.parametrize("dtype, tol, steps", [(torch.float64, 1e-10, STEPS), (torch.float32, 1e-3, 10)])
def test_each_member_equals_its_model_trained_alone(kind, dtype, tol, steps):
    """float64 over 100 Adam steps. float32 over 10: later, training these ReLU networks with Adam amplifies
    float32 rounding chaotically, in the run alone as much as in the stack (after 100 steps the autoencoder
    trained alone in float32 is 3.8e-2 from its float64 run, which the stacked float32 member matches to
    2e-4; in another member it is the other way round), so float32 cannot be compared beyond rounding's
    first steps, in either direction."""
    g = torch.Generator().manual_seed(1)
    xs = (torch.rand(steps, len(SEEDS), BATCH, *SHAPE, generator=g) > 0.6).to(dtype)
    nets = [_model(kind, s, dtype) for s in SEEDS]
    ens = Ensemble(nets)
    opt = StackedAdam(ens.params, lr=LRS)
    noises = [make_generator(100 + s) for s in SEEDS]
    for step, x in enumerate(xs):
        drawn = [nets[0].draw_noise(BATCH, g) for g in noises]
        noise = None if drawn[0] is None else torch.stack(drawn)
        loss = lambda m, xb, eps, step=step: m.call("loss", xb, step, None, eps)[0]  # noqa: E731
        grads, _ = ens.grad_and_value(loss, x, noise, in_dims=(0, None if noise is None else 0))
        opt.step(grads)
    for k, seed in enumerate(SEEDS):
        trainer, noise = Trainer(_model(kind, seed, dtype), lr=LRS[k]), make_generator(100 + seed)
        for x in xs[:, k]:
            trainer.step(x, noise)
        for (name, a), b in zip(trainer.model.named_parameters(), ens.member(k).parameters()):
            assert float((a - b).detach().abs().max()) <= tol, (kind, k, name)


def test_noise_drawn_beforehand_is_the_noise_the_loss_draws():
    for kind in STACKED:
        model, x = _model(kind, 0, torch.float64), torch.rand(BATCH, *SHAPE, dtype=torch.float64)
        drawn = model.draw_noise(BATCH, make_generator(5))
        assert (drawn is None) == (kind == "ae")
        assert torch.equal(model.loss(x, 3, make_generator(5))[0], model.loss(x, 3, None, drawn)[0])
    with pytest.raises(ConfigError, match="factor-vae"):
        _model("factor-vae", 0, torch.float64).loss(x, noise=torch.zeros(BATCH, 3))

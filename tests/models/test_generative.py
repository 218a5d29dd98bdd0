"""brainlearn.models.generative: losses by hand, FactorVAE's permutation, shapes, training, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.generative import (
    ARCHS,
    FAMILIES,
    MIXERS,
    MODELS,
    VAE,
    CCIVAEConfig,
    CompositionNet,
    CompositionNetConfig,
    FactorVAE,
    FactorVAEConfig,
    GroundTruthDecoder,
    GroundTruthDecoderConfig,
    SupervisedEncoder,
    SupervisedEncoderConfig,
    Trainer,
    VAEConfig,
    build_model,
    convs,
    decoder,
    encoder,
    kl_normal,
    mmd_imq,
    permute_dims,
)
from brainlearn.runtime import make_generator


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [32, 64])
def test_encoder_decoder_shapes(arch, size):
    torch.manual_seed(0)
    x = torch.rand(2, 1, size, size)
    assert encoder(arch, (1, size, size), 20)(x).shape == (2, 20)
    assert decoder(arch, (1, size, size), 10)(torch.randn(2, 10)).shape == (2, 1, size, size)


def test_beta_vae_loss_by_hand():
    torch.manual_seed(0)
    model = VAE(VAEConfig(n_latent=3, beta=4.0), (1, 32, 32))
    x = (torch.rand(2, 1, 32, 32) > 0.5).float()
    mu = torch.tensor([[0.5, -1.0, 0.0], [0.2, 0.3, -0.4]])
    logvar = torch.tensor([[0.0, -1.0, 0.5], [0.1, 0.2, -0.3]])
    logits = torch.randn(2, 1, 32, 32)
    # the same terms computed by hand: BCE summed over pixels, KL summed over latents, both batch-averaged
    bce = -(x * torch.log(torch.sigmoid(logits)) + (1 - x) * torch.log(1 - torch.sigmoid(logits))).sum((1, 2, 3))
    kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)
    kl_hand = torch.tensor([0.5 * (0.25 + 0 + 0) + 0.5 * (1.0 + math.exp(-1) + 1 - 1) + 0.5 * (math.exp(0.5) - 1.5),
                            kl[1].item()])
    assert torch.allclose(kl_normal(mu, logvar), kl_hand, atol=1e-6)
    model.posterior = lambda _x: (mu, logvar)
    model.decode = lambda _z: logits
    loss, stats = model.loss(x, generator=make_generator(0))
    assert loss.item() == pytest.approx((bce.mean() + 4.0 * kl.mean()).item(), rel=1e-5)
    assert stats["kl"] == pytest.approx(kl.mean().item(), rel=1e-6)


def test_factor_vae_permutation_preserves_marginals():
    z = torch.randn(257, 10)
    zp = permute_dims(z, make_generator(3))
    assert torch.equal(z.sort(0).values, zp.sort(0).values)         # every column's values unchanged
    assert not torch.equal(z, zp)
    # the joint is broken: permuted columns of a perfectly correlated pair decorrelate
    pair = torch.randn(2000, 1).repeat(1, 2)
    pp = permute_dims(pair, make_generator(0))
    assert torch.corrcoef(pp.T)[0, 1].abs() < 0.1


def test_mmd_and_capacity():
    g = make_generator(0)
    a, b = torch.randn(300, 4, generator=g) * 2 ** 0.5, torch.randn(300, 4, generator=g) * 2 ** 0.5
    assert abs(mmd_imq(a, b).item()) < 0.01 and mmd_imq(a + 3, b).item() > 0.1
    cci = build_model("cci-vae", (1, 32, 32), CCIVAEConfig(c_max=20, c_steps=100))
    assert cci.capacity(0) == 0 and cci.capacity(50) == 10 and cci.capacity(500) == 20


@pytest.mark.parametrize("kind", MODELS)
def test_every_model_trains(kind):
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 32, 32) > 0.7).float()
    def small():
        _, config_cls = FAMILIES[kind]
        return build_model(kind, (1, 32, 32), config_cls(n_latent=4))

    model = small()
    trainer = Trainer(model, lr=1e-3)
    g = make_generator(0)
    first = trainer.step(x, g)["rec"]
    for _ in range(15):
        last = trainer.step(x, g)["rec"]
    assert last < first and math.isfinite(last)
    if kind == "factor-vae":
        assert "d_loss" in trainer.step(x, g)
    state = trainer.state_dict()
    other = Trainer(small(), lr=1e-3)
    other.load_state_dict(state)
    assert other.steps == trainer.steps


def test_factor_vae_discriminator_learns_dependence():
    torch.manual_seed(0)
    model = FactorVAE(FactorVAEConfig(n_latent=2, d_hidden=32, d_layers=2), (1, 32, 32))
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-2)
    g = make_generator(1)
    for _ in range(150):
        z = torch.randn(128, 1, generator=g).repeat(1, 2)              # perfectly dependent latents
        loss = model.discriminator_loss(z, torch.randn(128, 1, generator=g).repeat(1, 2), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5                                          # below chance (log 2 = 0.69)


def test_diagnostic_models():
    torch.manual_seed(0)
    gt = GroundTruthDecoder(GroundTruthDecoderConfig(), 5, (1, 32, 32))
    assert gt(torch.randn(3, 5)).shape == (3, 1, 32, 32)
    enc = SupervisedEncoder(SupervisedEncoderConfig(), (1, 32, 32), classes=(3,), n_continuous=2)
    logits, cont = enc(torch.rand(4, 1, 32, 32))
    assert logits[0].shape == (4, 3) and cont.shape == (4, 2)
    loss, _ = enc.loss(torch.rand(4, 1, 32, 32), torch.tensor([[0], [1], [2], [0]]), torch.rand(4, 2))
    loss.backward()
    for mixer in MIXERS:
        net = CompositionNet(CompositionNetConfig(VAEConfig(n_latent=6), mixer=mixer), (1, 32, 32), n_actions=3)
        ref, cmd = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
        a = F.one_hot(torch.tensor([0, 2]), 3).float()
        assert net(ref, cmd, a).shape == (2, 1, 32, 32)
        net.loss(ref, cmd, a, ref, make_generator(0))[0].backward()
    fixed = CompositionNet(CompositionNetConfig(VAEConfig(n_latent=4), mixer="interp"), (1, 32, 32), n_actions=2)
    z_ref, z_cmd = torch.zeros(1, 4), torch.ones(1, 4)
    assert fixed.compose(z_ref, z_cmd, torch.tensor([[1.0, 0.0]])).tolist() == [[1, 0, 1, 0]]


def test_bad_input():
    with pytest.raises(ConfigError, match="architecture"):
        encoder("resnet", (1, 32, 32), 10)
    with pytest.raises(ShapeError, match="multiple of"):
        encoder("montero", (1, 48, 48), 10)
    with pytest.raises(ShapeError, match="too small"):
        encoder("burgess", (1, 4, 4), 10)
    assert convs("burgess", 32) == (32, 32, 32) and convs("montero", 64) == (64, 64, 128, 128, 256)
    with pytest.raises(ShapeError, match="square"):
        encoder("burgess", (1, 32, 64), 10)
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("gan", (1, 32, 32))
    with pytest.raises(ConfigError, match="reconstruction"):
        build_model("vae", (1, 32, 32), VAEConfig(recon="l1"))
    with pytest.raises(ConfigError, match="mixer"):
        CompositionNet(CompositionNetConfig(mixer="add"), (1, 32, 32), 3)
    model = build_model("vae", (1, 32, 32))
    with pytest.raises(ShapeError, match="expected images"):
        model.encode(torch.rand(2, 1, 64, 64))
    with pytest.raises(ShapeError, match="NaN"):
        model.encode(torch.full((1, 1, 32, 32), float("nan")))


def test_trainer_reads_factor_vae_latents_from_its_public_return():
    """The discriminator step uses the latents vae_loss returns: same numbers as the loss it reports."""
    torch.manual_seed(0)
    model = FactorVAE(FactorVAEConfig(n_latent=3, d_hidden=16, d_layers=1), (1, 32, 32))
    x = (torch.rand(8, 1, 32, 32) > 0.7).float()
    loss, stats, z = model.vae_loss(x, generator=make_generator(0))
    again, stats2 = model.loss(x, generator=make_generator(0))
    assert z.shape == (8, 3) and not z.requires_grad and torch.equal(loss, again) and stats == stats2
    assert not hasattr(model, "_last_z")

"""Generative models of factor datasets (Montero et al. 2021, 2022): AE, VAE / beta-VAE, CCI-VAE,
FactorVAE, WAE-MMD, CompositionNet, and the diagnostic models that tell encoder from decoder failures.

**Architectures** (:func:`encoder`, :func:`decoder`; latent size 10 by default), defined at 64 x 64; below
64 pixels the last conv layers are dropped so the final feature map keeps its size (:func:`convs`: burgess
at 32 x 32 has 3 convs, 4 x 4 maps):

- ``burgess``: 4 x [conv 32 channels, 4 x 4, stride 2] -> FC 256 -> FC 256; the decoder mirrors it with
  transposed convolutions (Burgess et al. 2018);
- ``kim``: convs 32-32-64-64 (4 x 4, stride 2) -> FC 256 (Kim & Mnih 2018);
- ``montero``: convs 64-64-128-128-256 (4 x 4, stride 2) -> FC 256 (Montero et al. 2021);
- ``higgins``: an MLP 1200-1200 (Higgins et al. 2017).

**Losses** (per image, summed over pixels and latents, averaged over the batch); ``rec`` is the
reconstruction term, BCE with logits for binary images or squared error:

- AE: ``rec``;
- VAE / beta-VAE: ``rec + beta KL(q(z|x) || N(0, I))`` with ``KL = 1/2 sum_j (mu_j^2 + s_j^2 - log s_j^2 - 1)``;
- CCI-VAE (Burgess et al. 2018): ``rec + gamma |KL - C(t)|``, capacity ``C(t) = min(C_max, C_max t / T)``;
- FactorVAE (Kim & Mnih 2018): ``rec + KL + gamma TC``, ``TC ~ mean(D(z)_0 - D(z)_1)``, where the
  discriminator D (6 x 1000 LeakyReLU, two logits) learns to tell ``z ~ q(z)`` (class 0) from
  ``permute_dims(z')`` (class 1), samples of ``prod_j q(z_j)`` made by permuting each latent over a batch;
- WAE-MMD (Tolstikhin et al. 2018): ``rec + lambda MMD(q(z), N(0, 2 I))`` with the inverse multiquadric
  kernel ``k(a, b) = C / (C + |a - b|^2)``, ``C = 2 d sigma^2``.

**Diagnostics**: :class:`GroundTruthDecoder` (true factors -> image), :class:`SupervisedEncoder` (image ->
factors) and :class:`CompositionNet` (reference and command images plus a one-hot action -> the reference
with the named factor taken from the command; mixers ``linear``, ``interp``, ``gate``, ``mlp``).

Each model takes its config (:class:`AEConfig`, :class:`VAEConfig`, :class:`CCIVAEConfig`,
:class:`FactorVAEConfig`, :class:`WAEConfig`, :class:`GroundTruthDecoderConfig`, :class:`SupervisedEncoderConfig`,
:class:`CompositionNetConfig`) and the data's image shape. :class:`Trainer` runs Adam on any of them (and
FactorVAE's discriminator) one batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.analysis.disentanglement import reconstruction_loss
from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.runtime.config import Config, param, require

ARCHS = ("burgess", "kim", "montero", "higgins")
MODELS = ("ae", "vae", "cci-vae", "factor-vae", "wae-mmd")
_CONVS = {"burgess": (32, 32, 32, 32), "kim": (32, 32, 64, 64), "montero": (64, 64, 128, 128, 256)}
_FC = {"burgess": (256, 256), "kim": (256,), "montero": (256,), "higgins": (1200, 1200)}


def convs(arch: str, size: int) -> tuple[int, ...]:
    """The conv channels of `arch` at image side `size`: the 64-pixel stack, with its last
    ``log2(64 / size)`` layers dropped below 64 pixels, so the final feature map keeps its 64-pixel size
    (4 x 4 for burgess and kim, 2 x 2 for montero)."""
    chans = _CONVS.get(arch, ())
    drop = max(0, round(math.log2(64 / size))) if size < 64 else 0
    if drop >= len(chans) and chans:
        raise ShapeError(f"{arch}: image size {size} is too small (at least {64 // 2 ** (len(chans) - 1)} pixels)")
    return chans[: len(chans) - drop]


def _check_arch(arch: str, image_shape: Sequence[int]) -> tuple[int, int]:
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHS)}")
    c, h, w = image_shape
    if h != w:
        raise ShapeError(f"{arch}: images must be square, got {h} x {w}")
    if arch == "higgins":
        return c, h
    n = len(convs(arch, h))
    if h % 2 ** n or (h < 64 and 64 % h):
        raise ShapeError(f"{arch}: image size must be a multiple of {2 ** n} (and divide 64 below 64 pixels), "
                         f"got {h}")
    return c, h // 2 ** n


def encoder(arch: str, image_shape: Sequence[int], n_out: int) -> nn.Sequential:
    """Image ``(N, C, H, W)`` -> ``(N, n_out)`` (``2 z`` for a Gaussian posterior: mean and log-variance)."""
    c, s = _check_arch(arch, image_shape)
    layers: list[nn.Module] = []
    width = c * image_shape[1] * image_shape[2]
    if arch != "higgins":
        for ch in convs(arch, image_shape[1]):
            layers += [nn.Conv2d(c, ch, 4, 2, 1), nn.ReLU()]
            c = ch
        width = c * s * s
    layers.append(nn.Flatten())
    for h in _FC[arch]:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def decoder(arch: str, image_shape: Sequence[int], n_latent: int) -> nn.Sequential:
    """Latent ``(N, n_latent)`` -> image logits ``(N, C, H, W)``: the encoder's mirror."""
    c_img, s = _check_arch(arch, image_shape)
    layers: list[nn.Module] = []
    width = n_latent
    for h in reversed(_FC[arch]):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    if arch == "higgins":
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Unflatten(1, tuple(image_shape))]
        return nn.Sequential(*layers)
    chans = list(reversed(convs(arch, image_shape[1])))
    layers += [nn.Linear(width, chans[0] * s * s), nn.ReLU(), nn.Unflatten(1, (chans[0], s, s))]
    for k, ch in enumerate(chans):
        out = chans[k + 1] if k + 1 < len(chans) else c_img
        layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1))
        if k + 1 < len(chans):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample ``(N,)``, summed over latents."""
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each column of ``z (N, d)`` permuted independently over the batch: samples of ``prod_j q(z_j)``
    with every marginal of ``z`` unchanged."""
    n, d = z.shape
    idx = torch.argsort(torch.rand(n, d, generator=generator, device="cpu"), dim=0).to(z.device)
    return torch.gather(z, 0, idx)


def mmd_imq(z: torch.Tensor, prior: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """Unbiased MMD^2 between samples ``z`` and ``prior`` (both ``(N, d)``) with the inverse multiquadric
    kernel ``C / (C + |a - b|^2)``, ``C = 2 d scale`` (``scale`` is the prior variance)."""
    n, d = z.shape
    C = 2.0 * d * scale

    def k(a, b):
        return C / (C + torch.cdist(a, b) ** 2)

    off = 1 - torch.eye(n, device=z.device)
    kzz = (k(z, z) * off).sum() / (n * (n - 1))
    kpp = (k(prior, prior) * off).sum() / (n * (n - 1))
    return kzz + kpp - 2 * k(z, prior).mean()


RECONS = ("bce", "mse")


@dataclass(frozen=True)
class GenerativeConfig(Config):
    """What every generative model has: its architecture, latent size and reconstruction loss (the image shape
    comes from the data)."""

    arch: Literal["burgess", "kim", "montero", "higgins"] = param("burgess", help="encoder / decoder architecture")
    n_latent: int = param(10, ge=1, help="latent size")
    recon: str = param("bce", help="reconstruction loss: bce (binary images, logits) or mse")

    def __post_init__(self):
        super().__post_init__()
        require(self.recon in RECONS, f"unknown reconstruction loss {self.recon!r}; expected bce or mse")


class GenerativeModel(nn.Module):
    """An encoder and a decoder. ``encode(x)`` gives the latent code used for analysis (the posterior
    mean for VAEs), ``forward(x)`` the reconstruction logits, ``loss(x, step, generator)`` the training
    loss and a dict of its terms (detached tensors).

    The random numbers a loss draws (posterior or prior samples) are :meth:`draw_noise`'s; ``loss(...,
    noise=...)`` takes them drawn beforehand, which is how an ensemble gives each member its own generator's."""

    variational = False

    def __init__(self, config: GenerativeConfig, image_shape: Sequence[int]):
        super().__init__()
        self.config = config
        self.arch, self.image_shape, self.n_latent, self.recon = (config.arch, tuple(image_shape), config.n_latent,
                                                                  config.recon)
        n = config.n_latent
        self.encoder = encoder(config.arch, image_shape, 2 * n if self.variational else n)
        self.decoder = decoder(config.arch, image_shape, n)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4)
        if tuple(x.shape[1:]) != self.image_shape:
            raise ShapeError(f"x: expected images {self.image_shape}, got {tuple(x.shape[1:])}")
        return x

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encoder(self._check(x))
        if not self.variational:
            return h, None
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-20, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def draw_noise(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The random numbers :meth:`loss` draws for `batch` images, from `generator` (None: it draws none)."""
        return None

    def _noise(self, x: torch.Tensor, generator, noise) -> torch.Tensor:
        noise = self.draw_noise(len(x), generator) if noise is None else noise
        return noise.to(x.device, x.dtype)  # drawn in float32 on the CPU whatever the model (the same numbers)

    def sample_latent(self, x, generator=None, noise=None):
        mu, logvar = self.posterior(x)
        if logvar is None:
            return mu, mu, None
        return mu + self._noise(x, generator, noise) * (0.5 * logvar).exp(), mu, logvar

    def loss(self, x: torch.Tensor, step: int = 0, generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None):
        z = self.encode(x)
        rec = reconstruction_loss(self.decode(z), x, self.recon).mean()
        return rec, {"rec": rec.detach()}


@dataclass(frozen=True)
class AEConfig(GenerativeConfig):
    """The deterministic autoencoder: architecture, latent size and reconstruction loss only."""


class AE(GenerativeModel):
    """Deterministic autoencoder: loss ``rec``."""

    def __init__(self, config: AEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)


@dataclass(frozen=True)
class VAEConfig(GenerativeConfig):
    """The (beta-)VAE."""

    beta: float = param(1.0, ge=0, help="weight of the KL term (1: the VAE; > 1: beta-VAE)")


class VAE(GenerativeModel):
    """beta-VAE (``beta = 1``: the VAE): loss ``rec + beta KL``."""

    variational = True

    def __init__(self, config: VAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)

    def draw_noise(self, batch, generator=None):  # the reparameterisation's ε ~ N(0, I)
        return torch.randn(batch, self.n_latent, generator=generator, device="cpu")

    def terms(self, x, generator=None, noise=None):
        z, mu, logvar = self.sample_latent(x, generator, noise)
        rec = reconstruction_loss(self.decode(z), x, self.recon).mean()
        return z, rec, kl_normal(mu, logvar).mean()

    def loss(self, x, step=0, generator=None, noise=None):
        _, rec, kl = self.terms(x, generator, noise)
        return rec + self.config.beta * kl, {"rec": rec.detach(), "kl": kl.detach()}


@dataclass(frozen=True)
class CCIVAEConfig(GenerativeConfig):
    """The capacity-controlled VAE (Burgess et al. 2018)."""

    gamma: float = param(50.0, ge=0, help="weight on |KL - C(t)|")
    c_max: float = param(20.0, ge=0, help="final capacity C_max (nats)")
    c_steps: int = param(10_000, ge=1, help="steps over which C rises linearly from 0 to C_max")


class CCIVAE(VAE):
    """Capacity-controlled beta-VAE: ``rec + gamma |KL - C(t)|``, C rising linearly from 0 to `c_max`
    nats over `c_steps` steps."""

    def __init__(self, config: CCIVAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)

    def capacity(self, step: int) -> float:
        c = self.config
        return min(c.c_max, c.c_max * step / c.c_steps)

    def loss(self, x, step=0, generator=None, noise=None):
        _, rec, kl = self.terms(x, generator, noise)
        c = self.capacity(step)
        return rec + self.config.gamma * (kl - c).abs(), {"rec": rec.detach(), "kl": kl.detach(),
                                                           "capacity": torch.tensor(c)}


@dataclass(frozen=True)
class FactorVAEConfig(GenerativeConfig):
    """FactorVAE (Kim & Mnih 2018) and its discriminator."""

    gamma: float = param(20.0, ge=0, help="weight of the total-correlation term")
    d_hidden: int = param(1000, ge=1, help="discriminator hidden units")
    d_layers: int = param(6, ge=0, help="discriminator hidden layers (LeakyReLU 0.2)")
    d_lr: float = param(1e-4, gt=0, help="discriminator Adam learning rate (betas 0.5, 0.9)")


class FactorVAE(VAE):
    """FactorVAE: ``rec + KL + gamma TC`` with a density-ratio discriminator on ``z`` vs
    ``permute_dims(z)``; :meth:`discriminator_loss` trains the discriminator on the latents that
    :meth:`vae_loss` returns."""

    def __init__(self, config: FactorVAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)
        layers, width = [], config.n_latent
        for _ in range(config.d_layers):
            layers += [nn.Linear(width, config.d_hidden), nn.LeakyReLU(0.2)]
            width = config.d_hidden
        self.discriminator = nn.Sequential(*layers, nn.Linear(width, 2))

    def vae_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("discriminator.")]

    def vae_loss(self, x, step=0, generator=None) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """:meth:`loss` and the sampled latents ``z`` (N, n_latent), detached (the discriminator's class-0
        samples)."""
        z, rec, kl = self.terms(x, generator)
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        stats = {"rec": rec.detach(), "kl": kl.detach(), "tc": tc.detach()}
        return rec + kl + self.config.gamma * tc, stats, z.detach()

    def loss(self, x, step=0, generator=None, noise=None):
        if noise is not None:
            raise ConfigError("factor-vae: pre-drawn noise is not supported (its discriminator step draws too)")
        return self.vae_loss(x, step, generator)[:2]

    def discriminator_loss(self, z: torch.Tensor, z_other: torch.Tensor, generator=None) -> torch.Tensor:
        """Cross-entropy of D on ``z`` (class 0) and on ``permute_dims(z_other)`` (class 1)."""
        zp = permute_dims(z_other, generator)
        logits = self.discriminator(torch.cat([z, zp]))
        labels = torch.cat([torch.zeros(len(z)), torch.ones(len(zp))]).long().to(z.device)
        return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class WAEConfig(GenerativeConfig):
    """WAE-MMD (Tolstikhin et al. 2018)."""

    lam: float = param(10.0, ge=0, help="weight of the MMD term")
    prior_var: float = param(2.0, gt=0, help="variance of the Gaussian prior (and the kernel's scale)")


class WAE(GenerativeModel):
    """WAE-MMD: deterministic encoder, ``rec + lambda MMD_imq(z, N(0, prior_var I))``."""

    def __init__(self, config: WAEConfig, image_shape: Sequence[int]):
        super().__init__(config, image_shape)

    def draw_noise(self, batch, generator=None):  # the prior sample's standard normals
        return torch.randn(batch, self.n_latent, generator=generator, device="cpu")

    def loss(self, x, step=0, generator=None, noise=None):
        z = self.encode(x)
        rec = reconstruction_loss(self.decode(z), x, self.recon).mean()
        var = self.config.prior_var
        prior = self._noise(x, generator, noise) * math.sqrt(var)
        mmd = mmd_imq(z, prior, var)
        return rec + self.config.lam * mmd, {"rec": rec.detach(), "mmd": mmd.detach()}


#: Each model family: its class and its config class.
FAMILIES: dict[str, tuple[type[GenerativeModel], type[GenerativeConfig]]] = {
    "ae": (AE, AEConfig), "vae": (VAE, VAEConfig), "cci-vae": (CCIVAE, CCIVAEConfig),
    "factor-vae": (FactorVAE, FactorVAEConfig), "wae-mmd": (WAE, WAEConfig)}


def build_model(kind: str, image_shape: Sequence[int], config: GenerativeConfig | None = None) -> GenerativeModel:
    """A model of family `kind` (:data:`MODELS`) with `config` (that family's config class; default: its
    defaults)."""
    if kind not in FAMILIES:
        raise ConfigError(f"unknown model {kind!r}; expected one of {', '.join(MODELS)}")
    cls, config_cls = FAMILIES[kind]
    config = config_cls() if config is None else config
    if type(config) is not config_cls:
        raise ConfigError(f"model {kind!r} takes a {config_cls.__name__}, got a {type(config).__name__}")
    return cls(config, image_shape)


@dataclass(frozen=True)
class GroundTruthDecoderConfig(GenerativeConfig):
    """The ground-truth decoder: the `arch` decoder behind a small embedding of the true factors."""

    n_hidden: int = param(256, ge=1, help="hidden units of the factor embedding")


class GroundTruthDecoder(nn.Module):
    """The decoder fed the true factors: features ``(N, n_in)`` -> FC -> the `arch` decoder -> logits."""

    def __init__(self, config: GroundTruthDecoderConfig, n_in: int, image_shape: Sequence[int]):
        super().__init__()
        self.config = config
        self.recon, self.image_shape = config.recon, tuple(image_shape)
        self.embed = nn.Sequential(nn.Linear(n_in, config.n_hidden), nn.ReLU(),
                                   nn.Linear(config.n_hidden, config.n_latent))
        self.decoder = decoder(config.arch, image_shape, config.n_latent)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.embed(check_tensor(features, "features", ndim=2)))

    def loss(self, features, x):
        rec = reconstruction_loss(self(features), x, self.recon).mean()
        return rec, {"rec": float(rec.detach())}


@dataclass(frozen=True)
class SupervisedEncoderConfig(Config):
    """The supervised encoder's architecture (its heads' sizes come from the data)."""

    arch: Literal["burgess", "kim", "montero", "higgins"] = param("burgess", help="encoder architecture")


class SupervisedEncoder(nn.Module):
    """Image -> factors: the `arch` encoder with one logit head per categorical factor (sizes in
    `classes`) and one regression output per continuous factor; loss = sum of cross-entropies + MSE."""

    def __init__(self, config: SupervisedEncoderConfig, image_shape: Sequence[int], classes: Sequence[int],
                 n_continuous: int):
        super().__init__()
        self.config = config
        self.classes, self.n_continuous = tuple(classes), n_continuous
        self.net = encoder(config.arch, image_shape, sum(self.classes) + n_continuous)

    def forward(self, x):
        out = self.net(check_tensor(x, "x", ndim=4))
        cuts = list(self.classes) + [self.n_continuous]
        *logits, cont = out.split(cuts, dim=1)
        return logits, cont

    def loss(self, x, labels: torch.Tensor, targets: torch.Tensor):
        logits, cont = self(x)
        ce = sum(F.cross_entropy(lg, labels[:, k]) for k, lg in enumerate(logits))
        mse = F.mse_loss(cont, targets) if self.n_continuous else torch.zeros(())
        return ce + mse, {"ce": float(ce.detach()), "mse": float(mse.detach())}


MIXERS = ("linear", "interp", "gate", "mlp")


@dataclass(frozen=True)
class CompositionNetConfig(Config):
    """CompositionNet: its VAE and its mixer."""

    vae: VAEConfig = VAEConfig()
    mixer: Literal["linear", "interp", "gate", "mlp"] = param("linear", help="how the two latents combine")
    n_hidden: int = param(256, ge=1, help="hidden units of the mlp mixer")


class CompositionNet(nn.Module):
    """CompositionNet: a VAE encodes a reference and a command image; a mixer combines their latents under
    a one-hot action ``a`` (which factor to take from the command); the decoder renders the result.

    Mixers: ``linear`` ``W [z_ref; z_cmd; a]``; ``interp`` (fixed) ``z_ref (1 - m) + z_cmd m`` with
    ``m = a A`` for a fixed assignment A of latents to factors (latent j to factor j mod K); ``gate``
    the same with a learned ``m = sigmoid(W a + b)``; ``mlp`` an MLP of ``[z_ref; z_cmd; a]``.
    """

    def __init__(self, config: CompositionNetConfig, image_shape: Sequence[int], n_actions: int):
        super().__init__()
        self.config = config
        mixer, n_latent = config.mixer, config.vae.n_latent
        self.vae = VAE(config.vae, image_shape)
        self.mixer, self.n_actions = mixer, n_actions
        width = 2 * n_latent + n_actions
        if mixer == "linear":
            self.mix = nn.Linear(width, n_latent)
        elif mixer == "gate":
            self.mix = nn.Linear(n_actions, n_latent)
        elif mixer == "mlp":
            self.mix = nn.Sequential(nn.Linear(width, config.n_hidden), nn.ReLU(), nn.Linear(config.n_hidden, n_latent))
        assign = torch.zeros(n_actions, n_latent)
        assign[torch.arange(n_latent) % n_actions, torch.arange(n_latent)] = 1.0
        self.register_buffer("assign", assign)

    def compose(self, z_ref, z_cmd, action):
        if action.shape != (len(z_ref), self.n_actions):
            raise ShapeError(f"action: expected ({len(z_ref)}, {self.n_actions}), got {tuple(action.shape)}")
        if self.mixer in ("interp", "gate"):
            m = action @ self.assign if self.mixer == "interp" else torch.sigmoid(self.mix(action))
            return z_ref * (1 - m) + z_cmd * m
        return self.mix(torch.cat([z_ref, z_cmd, action], dim=1))

    def forward(self, ref, cmd, action):
        return self.vae.decode(self.compose(self.vae.encode(ref), self.vae.encode(cmd), action))

    def loss(self, ref, cmd, action, target, generator=None):
        z_ref, mu_r, lv_r = self.vae.sample_latent(ref, generator)
        z_cmd, mu_c, lv_c = self.vae.sample_latent(cmd, generator)
        rec = reconstruction_loss(self.vae.decode(self.compose(z_ref, z_cmd, action)), target, self.vae.recon).mean()
        kl = 0.5 * (kl_normal(mu_r, lv_r) + kl_normal(mu_c, lv_c)).mean()
        return rec + self.config.vae.beta * kl, {"rec": float(rec.detach()), "kl": float(kl.detach())}


class Trainer:
    """Adam (learning rate `lr`) on a generative model, one batch per :meth:`step` (FactorVAE: also its
    discriminator, Adam lr ``config.d_lr``, betas (0.5, 0.9), on a second half-batch, against the latents
    that :meth:`FactorVAE.vae_loss` returned). A training loop, not a model: its one setting is an argument."""

    def __init__(self, model: GenerativeModel, lr: float = 5e-4):
        self.model = model
        self.factor = isinstance(model, FactorVAE)
        params = model.vae_parameters() if self.factor else list(model.parameters())
        self.opt = torch.optim.Adam(params, lr=lr)
        self.d_opt = (torch.optim.Adam(model.discriminator.parameters(), lr=model.config.d_lr, betas=(0.5, 0.9))
                      if self.factor else None)
        self.steps = 0

    def step(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, float]:
        self.model.train()
        x1, x2 = (x.chunk(2) if self.factor else (x, None))
        if self.factor:
            loss, stats, z1 = self.model.vae_loss(x1, self.steps, generator)
        else:
            loss, stats = self.model.loss(x1, self.steps, generator)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.factor and len(x2) > 1:
            with torch.no_grad():
                z2 = self.model.sample_latent(x2, generator)[0]
            d_loss = self.model.discriminator_loss(z1[: len(z2)], z2, generator)
            self.d_opt.zero_grad()
            d_loss.backward()
            self.d_opt.step()
            stats["d_loss"] = float(d_loss.detach())
        self.steps += 1
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}}

    def state_dict(self):
        out = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "steps": self.steps}
        if self.d_opt is not None:
            out["d_opt"] = self.d_opt.state_dict()
        return out

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.steps = int(state["steps"])
        if self.d_opt is not None:
            self.d_opt.load_state_dict(state["d_opt"])

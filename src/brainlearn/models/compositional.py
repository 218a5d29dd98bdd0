"""Networks for compositional learning on motif tasks (Driscoll, Shenoy & Sussillo; Guilhot et al.
arXiv:2410.24070): :class:`CompositionalRNN` (a leaky rate RNN), :class:`CompositionalGRU` (a leaky GRU) and
:class:`SelectiveSSM` (a Mamba-style selective state-space model), each with a separate input layer (the weights
a "frozen" network still trains) and each returning its hidden states. Each takes its frozen config
(:class:`CompositionalRNNConfig`, ...); :func:`build_network` builds one from a
:class:`CompositionalNetworkConfig`, which names the architecture.

Every network maps inputs x (B, T, n_in) to ``(logits (B, T, n_out), hidden (B, T, n_hidden))``.

**Leaky RNN** (decay a = exp(-dt / tau)):

    h_t = a h_{t-1} + (1 - a) f( W_rec h_{t-1} + W_in x_t + b + sqrt(2 / (1 - a)) sigma_rec xi_t )

**Leaky GRU** (gates from the input and the state; the leak scales the update gate):

    u_t = sigmoid(W_u^x x_t + W_u^h h_{t-1}),   r_t = sigmoid(W_r^x x_t + W_r^h h_{t-1})
    c_t = f( W_c^x x_t + W_c^h (r_t * h_{t-1}) + sqrt(2 / (1 - a)) sigma_rec xi_t )
    h_t = (1 - (1 - a) u_t) * h_{t-1} + (1 - a) u_t * c_t

with W^x = [W_u^x; W_r^x; W_c^x] (and its bias) the input layer. xi_t ~ N(0, I) is drawn from a
``torch.Generator`` passed to ``forward``; with none, the network runs without recurrent noise.

**Selective SSM** (Mamba, Gu & Dao 2023, in pure PyTorch): a linear embedding (the input layer), residual
blocks ``x + Mixer(RMSNorm(x))``, a final RMSNorm and a linear head. The mixer projects to two branches of
width d_inner = expand * d_model; one goes through a causal depthwise convolution and SiLU to u_t, from which
the input-dependent step Delta_t = softplus(W_dt (W_x u_t)), B_t and C_t are read; per channel and state

    h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t u_t,      y_t = C_t . h_t + D u_t,

(A = -exp(A_log) < 0, diagonal); the output is W_out (y_t * SiLU(z_t)) with z the other branch. The
recurrence is a first-order linear scan; :func:`parallel_scan` computes it in log2(T) vectorised steps and
:func:`sequential_scan` is the step-by-step reference it is tested against. The hidden states it returns
are the residual stream after the last block (B, T, d_model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from brainlearn.data.cognitive.motifs import MotifTasks
from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.runtime.config import Config, param, require

ACTIVATIONS = {"relu": torch.relu, "leaky_relu": F.leaky_relu, "softplus": F.softplus, "tanh": torch.tanh}
ARCHITECTURES = ("rnn", "gru", "ssm")
Activation = Literal["relu", "leaky_relu", "softplus", "tanh"]
Architecture = Literal["rnn", "gru", "ssm"]
Scan = Literal["parallel", "sequential"]
N_IN, N_OUT = MotifTasks.n_inputs, MotifTasks.n_outputs       # the motif tasks' widths: the defaults


def _check_input(x: torch.Tensor, n_in: int) -> None:
    check_tensor(x, "x", ndim=3)
    if x.shape[-1] != n_in:
        raise ShapeError(f"x: expected (batch, time, {n_in}) inputs, got shape {tuple(x.shape)}")


def _normal_(weight: torch.Tensor, std: float, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=generator) * std)


def _orthogonal_(weight: torch.Tensor, gain: float, generator: torch.Generator | None) -> None:
    """A Haar-random orthogonal matrix (square blocks stacked) times `gain`, drawn from `generator`."""
    rows, cols = weight.shape
    blocks = []
    for _ in range(math.ceil(rows / cols)):
        q, r = torch.linalg.qr(torch.randn(cols, cols, generator=generator))
        blocks.append(q * torch.sign(torch.diagonal(r)))
    with torch.no_grad():
        weight.copy_(torch.cat(blocks)[:rows] * gain)


# ------------------------------------------------------------------------------------------------
# Leaky RNN and leaky GRU

@dataclass(frozen=True)
class CompositionalRNNConfig(Config):
    """The leaky RNN's settings (the leaky GRU's are the same: :class:`CompositionalGRUConfig`)."""

    n_in: int = param(N_IN, ge=1, help="input units (37 for the motif tasks: 33 sensory + 4 rules)")
    n_hidden: int = param(64, ge=1, help="hidden units")
    n_out: int = param(N_OUT, ge=1, help="output classes (17 for the motif tasks)")
    dt: float = param(100.0, gt=0, help="Euler step in ms (the decay is a = exp(-dt / tau))")
    tau: float = param(100.0, gt=0, help="time constant in ms")
    sigma_rec: float = param(0.05, ge=0, help="recurrent noise sd (drawn only when forward gets a generator)")
    activation: Activation = param("tanh", help="f: relu, leaky_relu, softplus or tanh")
    gain: float = param(1.0, help="gain of the orthogonal recurrent weights at init")


class _Recurrent(nn.Module):
    """What the leaky RNN and GRU share: input layer, readout, noise and the time loop."""

    def __init__(self, config: CompositionalRNNConfig, gates: int, generator: torch.Generator | None):
        super().__init__()
        self.config = config
        n_in, n_hidden, n_out = config.n_in, config.n_hidden, config.n_out
        self.n_in, self.n_hidden, self.n_out = n_in, n_hidden, n_out
        self.decay, self.sigma_rec = math.exp(-config.dt / config.tau), float(config.sigma_rec)
        self.activation = config.activation
        self.f = ACTIVATIONS[config.activation]
        self.input = nn.Linear(n_in, gates * n_hidden)
        self.readout = nn.Linear(n_hidden, n_out)
        _normal_(self.input.weight, 1 / math.sqrt(n_in), generator)
        _normal_(self.readout.weight, 1 / math.sqrt(n_hidden), generator)
        nn.init.zeros_(self.input.bias)
        nn.init.zeros_(self.readout.bias)

    @property
    def noise_scale(self) -> float:
        return math.sqrt(2 / (1 - self.decay)) * self.sigma_rec

    def input_parameters(self) -> list[nn.Parameter]:
        """The input layer's parameters: what a frozen network trains."""
        return list(self.input.parameters())

    def _step(self, drive: torch.Tensor, h: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - interface

    def draw_noise(self, batch: int, steps: int, generator: torch.Generator) -> torch.Tensor | None:
        """The standard-normal recurrent noise `forward` draws from `generator` for `steps` steps of `batch`
        trials, (T, B, n_hidden), in the same order (None when ``sigma_rec`` is 0: nothing is drawn)."""
        if self.sigma_rec == 0:
            return None
        return torch.stack([torch.randn(batch, self.n_hidden, generator=generator, device=generator.device)
                            for _ in range(steps)])

    def forward(self, x: torch.Tensor, noise: torch.Generator | torch.Tensor | None = None):
        """x (B, T, n_in) -> logits (B, T, n_out), hidden (B, T, n_hidden); h_0 = 0.

        `noise`: a generator the recurrent noise is drawn from, or that noise drawn beforehand
        (:meth:`draw_noise`: an ensemble draws each member's outside its vmap); None: no noise."""
        _check_input(x, self.n_in)
        B, T = x.shape[:2]
        if isinstance(noise, torch.Generator):
            noise = self.draw_noise(B, T, noise)
        elif noise is not None and self.sigma_rec > 0 and noise.shape != (T, B, self.n_hidden):
            raise ShapeError(f"noise: expected shape ({T}, {B}, {self.n_hidden}), got {tuple(noise.shape)}")
        drive = self.input(x)                                   # (B, T, gates * H): all input terms at once
        h = x.new_zeros(B, self.n_hidden)
        states = []
        for t, drive_t in enumerate(drive.unbind(1)):  # not drive[:, t]: a slice's backward adds a padded copy
            xi = noise[t].to(x.device) if noise is not None and self.sigma_rec > 0 else None
            h = self._step(drive_t, h, xi)
            states.append(h)
        hidden = torch.stack(states, 1)
        return self.readout(hidden), hidden


class CompositionalRNN(_Recurrent):
    """Leaky rate RNN (see the module docstring); recurrent weights orthogonal times `gain` at init."""

    def __init__(self, config: CompositionalRNNConfig = CompositionalRNNConfig(), *,
                 generator: torch.Generator | None = None):
        super().__init__(config, 1, generator)
        self.recurrent = nn.Linear(config.n_hidden, config.n_hidden, bias=False)
        _orthogonal_(self.recurrent.weight, config.gain, generator)

    def _step(self, drive, h, xi):
        pre = drive + self.recurrent(h)
        if xi is not None:
            pre = pre + self.noise_scale * xi
        return self.decay * h + (1 - self.decay) * self.f(pre)


@dataclass(frozen=True)
class CompositionalGRUConfig(CompositionalRNNConfig):
    """The leaky GRU's settings: those of the leaky RNN (``gain`` scales each orthogonal gate block)."""


class CompositionalGRU(_Recurrent):
    """Leaky GRU (see the module docstring); each recurrent gate block orthogonal at init."""

    def __init__(self, config: CompositionalGRUConfig = CompositionalGRUConfig(), *,
                 generator: torch.Generator | None = None):
        super().__init__(config, 3, generator)
        self.recurrent = nn.Linear(config.n_hidden, 3 * config.n_hidden, bias=False)
        _orthogonal_(self.recurrent.weight, config.gain, generator)

    def _step(self, drive, h, xi):
        H = self.n_hidden
        W_u, W_r, W_c = self.recurrent.weight.split(H)
        u = torch.sigmoid(drive[:, :H] + h @ W_u.T)
        r = torch.sigmoid(drive[:, H:2 * H] + h @ W_r.T)
        pre = drive[:, 2 * H:] + (r * h) @ W_c.T
        if xi is not None:
            pre = pre + self.noise_scale * xi
        step = (1 - self.decay) * u
        return (1 - step) * h + step * self.f(pre)


# ------------------------------------------------------------------------------------------------
# Selective state-space model

def sequential_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t along dim 1 from h_{-1} = 0, one step at a time (the reference)."""
    h = torch.zeros_like(b[:, 0])
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


def parallel_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same recurrence as :func:`sequential_scan` in ceil(log2 T) vectorised steps (Hillis-Steele).

    Each element is the affine map h -> a_t h + b_t; composing element t-s into t gives
    (a_{t-s} a_t, a_t b_{t-s} + b_t). After the steps s = 1, 2, 4, ... element t holds the composition of
    elements 0..t, whose offset is h_t. a and b have the same shape (B, T, ...); differentiable.
    """
    if a.shape != b.shape:
        raise ConfigError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    shift, T = 1, a.shape[1]
    while shift < T:
        b = torch.cat([b[:, :shift], a[:, shift:] * b[:, :-shift] + b[:, shift:]], 1)
        a = torch.cat([a[:, :shift], a[:, shift:] * a[:, :-shift]], 1)
        shift *= 2
    return b


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


class SelectiveMixer(nn.Module):
    """The Mamba mixer: gated branch, causal depthwise convolution and the selective scan."""

    def __init__(self, d_model: int, d_state: int = 8, expand: int = 2, d_conv: int = 4,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, scan: str = "parallel",
                 generator: torch.Generator | None = None):
        super().__init__()
        require(scan in ("parallel", "sequential"), f"scan={scan!r} is not valid; expected parallel or sequential")
        d_inner = expand * d_model
        self.d_inner, self.d_state, self.scan = d_inner, d_state, scan
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        for lin in (self.in_proj, self.x_proj, self.out_proj):
            _normal_(lin.weight, 1 / math.sqrt(lin.in_features), generator)
        _normal_(self.conv.weight, 1 / math.sqrt(d_conv), generator)
        nn.init.zeros_(self.conv.bias)
        _normal_(self.dt_proj.weight, self.dt_rank ** -0.5, generator)
        # softplus(bias) log-uniform in [dt_min, dt_max], as Mamba initialises the step
        dt = torch.exp(torch.rand(d_inner, generator=generator) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x):
        T = x.shape[1]
        u, z = self.in_proj(x).chunk(2, -1)                                    # (B, T, d_inner) each
        u = F.silu(self.conv(u.transpose(1, 2))[..., :T].transpose(1, 2))      # causal: keep the first T
        dt_in, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], -1)
        delta = F.softplus(self.dt_proj(dt_in))                                # (B, T, d_inner)
        A = -torch.exp(self.A_log)                                             # (d_inner, d_state)
        decay = torch.exp(delta[..., None] * A)                                # (B, T, d_inner, d_state)
        inject = delta[..., None] * B[:, :, None, :] * u[..., None]
        h = (parallel_scan if self.scan == "parallel" else sequential_scan)(decay, inject)
        y = (h * C[:, :, None, :]).sum(-1) + self.D * u
        return self.out_proj(y * F.silu(z))


@dataclass(frozen=True)
class SelectiveSSMConfig(Config):
    """The selective SSM's settings."""

    n_in: int = param(N_IN, ge=1, help="input units (37 for the motif tasks)")
    n_hidden: int = param(16, ge=1, help="d_model: width of the residual stream, whose states are the hidden states")
    n_out: int = param(N_OUT, ge=1, help="output classes (17 for the motif tasks)")
    n_layers: int = param(1, ge=1, help="residual Mamba blocks")
    d_state: int = param(8, ge=1, help="state size per channel")
    expand: int = param(2, ge=1, help="d_inner = expand * d_model")
    d_conv: int = param(4, ge=1, help="width of the causal depthwise convolution")
    scan: Scan = param("parallel", help="parallel or sequential scan (the same numbers; sequential is faster on "
                                        "a CPU for short trials)")


class SelectiveSSM(nn.Module):
    """Mamba-style selective SSM: embedding (input layer), `n_layers` residual blocks, RMSNorm, head.

    ``forward(x)`` returns logits (B, T, n_out) and the residual stream after the last block
    (B, T, n_hidden = d_model) as the hidden states. ``noise`` is accepted for a common interface and unused
    (the model is deterministic).
    """

    def __init__(self, config: SelectiveSSMConfig = SelectiveSSMConfig(), *,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        n_in, d_model, n_out = config.n_in, config.n_hidden, config.n_out
        self.n_in, self.n_hidden, self.n_out = n_in, d_model, n_out
        self.input = nn.Linear(n_in, d_model)
        self.norms = nn.ModuleList(RMSNorm(d_model) for _ in range(config.n_layers))
        self.mixers = nn.ModuleList(SelectiveMixer(d_model, config.d_state, config.expand, config.d_conv,
                                                   scan=config.scan, generator=generator)
                                    for _ in range(config.n_layers))
        self.norm_f = RMSNorm(d_model)
        self.readout = nn.Linear(d_model, n_out)
        _normal_(self.input.weight, 1 / math.sqrt(n_in), generator)
        _normal_(self.readout.weight, 1 / math.sqrt(d_model), generator)
        nn.init.zeros_(self.input.bias)
        nn.init.zeros_(self.readout.bias)

    def input_parameters(self) -> list[nn.Parameter]:
        """The embedding's parameters: what a frozen network trains."""
        return list(self.input.parameters())

    def forward(self, x: torch.Tensor, noise: torch.Generator | torch.Tensor | None = None):
        _check_input(x, self.n_in)
        h = self.input(x)
        for norm, mixer in zip(self.norms, self.mixers):
            h = h + mixer(norm(h))
        return self.readout(self.norm_f(h)), h


# ------------------------------------------------------------------------------------------------
# One of the three by name

@dataclass(frozen=True)
class CompositionalNetworkConfig(Config):
    """A network of the compositional-learning experiments: its `architecture` and the settings of all three
    (each architecture reads its own: the RNN and GRU ``dt ... gain``, the SSM ``n_layers ... scan``, with
    ``n_hidden`` its d_model). ``dt`` is also the step of the task the experiments generate."""

    architecture: Architecture = param("rnn", help="rnn (CompositionalRNN), gru (CompositionalGRU) or ssm "
                                                   "(SelectiveSSM)")
    n_in: int = param(N_IN, ge=1, help="input units (37 for the motif tasks)")
    n_hidden: int = param(64, ge=1, help="hidden units (d_model for the SSM)")
    n_out: int = param(N_OUT, ge=1, help="output classes (17 for the motif tasks)")
    dt: float = param(100.0, gt=0, help="step length in ms (the task's; the RNN/GRU's Euler step)")
    tau: float = param(100.0, gt=0, help="RNN/GRU time constant in ms")
    sigma_rec: float = param(0.05, ge=0, help="RNN/GRU recurrent noise sd")
    activation: Activation = param("tanh", help="RNN/GRU activation: relu, leaky_relu, softplus or tanh")
    gain: float = param(1.0, help="RNN/GRU gain of the orthogonal recurrent weights at init")
    n_layers: int = param(1, ge=1, help="SSM residual blocks")
    d_state: int = param(8, ge=1, help="SSM state size per channel")
    expand: int = param(2, ge=1, help="SSM d_inner = expand * d_model")
    d_conv: int = param(4, ge=1, help="SSM causal convolution width")
    scan: Scan = param("parallel", help="SSM scan: parallel or sequential (the same numbers)")

    def model_config(self) -> CompositionalRNNConfig | CompositionalGRUConfig | SelectiveSSMConfig:
        """The config of the network `architecture` names."""
        widths = {"n_in": self.n_in, "n_hidden": self.n_hidden, "n_out": self.n_out}
        if self.architecture == "ssm":
            return SelectiveSSMConfig(**widths, n_layers=self.n_layers, d_state=self.d_state, expand=self.expand,
                                      d_conv=self.d_conv, scan=self.scan)
        cls = CompositionalRNNConfig if self.architecture == "rnn" else CompositionalGRUConfig
        return cls(**widths, dt=self.dt, tau=self.tau, sigma_rec=self.sigma_rec, activation=self.activation,
                   gain=self.gain)


MODELS = {CompositionalRNNConfig: CompositionalRNN, CompositionalGRUConfig: CompositionalGRU,
          SelectiveSSMConfig: SelectiveSSM}


def build_network(config: CompositionalNetworkConfig | CompositionalRNNConfig | CompositionalGRUConfig
                  | SelectiveSSMConfig, *, generator: torch.Generator | None = None) -> nn.Module:
    """The network a config describes: a :class:`CompositionalNetworkConfig` (its `architecture` names it) or
    one network's own config."""
    if isinstance(config, CompositionalNetworkConfig):
        config = config.model_config()
    if type(config) not in MODELS:
        raise ConfigError(f"build_network: expected a compositional network config, got {type(config).__name__}")
    return MODELS[type(config)](config, generator=generator)

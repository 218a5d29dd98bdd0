"""Circuit models of prediction errors in sensory cortex, vectorised over cells and trials.

* :class:`PEMicrocircuit`: the E/I prediction-error microcircuit (Hertäg & Sprekeler 2020). Excitatory
  cells have a soma and a dendrite; PV, SST and VIP interneurons. Rectified rate dynamics
  ``tau dr/dt = -r + [input]_+``. The sensory input S drives the somata and a random half of each
  interneuron type; the prediction P drives the dendrites and the complementary half. Each E cell's
  feedforward weights mix S (soma, weight ``a_i``) and P (dendrite, ``b_i``) in a cell-specific ratio.
  Homeostatic inhibitory plasticity on E<-PV, D<-SST, PV<-SST and PV<-VIP, trained on fully predicted
  stimuli (S = P), balances excitation and inhibition in each compartment, so that cells stay at their
  target rate when S = P and respond to P > S (nPE) or S > P (pPE) according to their inputs.
* :class:`HierarchicalPC`: hierarchical predictive coding (Rao & Ballard 1999) with sign-split error
  units (Keller & Mrsic-Flogel 2018): ``x_hat_l = W_l f(mu_{l+1})``, ``e+_l = [mu_l - x_hat_l]_+``,
  ``e-_l = [x_hat_l - mu_l]_+``.
* :class:`TemporalPC`: the temporal variant: a latent state predicts the next input through a learned
  transition; repeated sequences reduce the error, deviants evoke e+ and omissions e-.
* :class:`AdaptationModel`: the adaptation-only null model, a depressing input gain per channel
  ``r = g s``, ``dg/dt = (1 - g)/tau_rec - u g s``: stimulus-specific adaptation without prediction.

Each model takes its frozen config (``PEMicrocircuitConfig`` above ``PEMicrocircuit``, and so on), whose
fields declare their valid ranges; ``generator`` draws the random weights where a model has any.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from brainlearn.analysis.mismatch import classify_pe
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.runtime.config import Config, param, require

log = logging.getLogger(__name__)

POPULATIONS = ("E", "D", "PV", "SST", "VIP")


def _relu(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp_min(x, 0.0)


# --------------------------------------------------------------------------------------------------
# The E/I prediction-error microcircuit
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PEMicrocircuitConfig(Config):
    """The E/I prediction-error microcircuit (population sizes of Hertäg & Sprekeler: 140 E, 20 PV / SST /
    VIP), its homeostatic training on fully predicted stimuli S = P, and the probe that labels its cells.

    Each interneuron type needs at least 2 cells: a random half (``n // 2``) is driven by S and the rest by
    P, and a type without an S-driven cell cannot carry a prediction error.
    """

    renamed = {"batch": "batch_size"}

    n_e: int = param(140, ge=1, help="excitatory cells (each a soma and a dendrite)")
    n_pv: int = param(20, ge=2, help="PV interneurons (half S-driven, half P-driven)")
    n_sst: int = param(20, ge=2, help="SST interneurons (half S-driven, half P-driven)")
    n_vip: int = param(20, ge=2, help="VIP interneurons (half S-driven, half P-driven)")
    tau_e: float = param(0.06, gt=0, help="E soma / dendrite time constant (s)")
    tau_i: float = param(0.002, gt=0, help="interneuron time constant (s)")
    rho_e: float = param(1.0, ge=0, help="somatic target rate (rates are rectified, so >= 0)")
    rho_d: float = param(0.0, ge=0, help="dendritic target rate")
    drive: float = param(6.0, ge=0, help="feedforward weight scale: a_i = drive u_i (S onto the soma), "
                                         "b_i = drive (1 - u_i) (P onto the dendrite)")
    mix: float = param(0.3, gt=0, help="u_i ~ Beta(mix, mix); below 1 most cells are mostly S- or mostly P-driven")
    w_ed: float = param(1.0, ge=0, help="dendrite-to-soma coupling")
    background: float = param(0.0, help="tonic input to the interneurons (the somata get rho_e)")
    w_ie: float = param(0.0, ge=0, help="E -> interneuron weight (of the mean E rate)")
    w_init: float = param(0.5, ge=0, help="initial scale of the plastic inhibition onto E (E<-PV, D<-SST); "
                                          "mean w_init / n_pre")
    w_init_pv: float = param(0.1, ge=0, help="initial scale of the plastic inhibition onto PV (from SST, VIP)")
    w_pp: float = param(0.5, ge=0, help="scale of the fixed PV<-PV inhibition")
    w_sv: float = param(0.5, ge=0, help="scale of the fixed SST<-VIP inhibition")
    w_vs: float = param(0.5, ge=0, help="scale of the fixed VIP<-SST inhibition")
    iterations: int = param(80, ge=1, help="damped-relaxation iterations per steady state")
    relax_rate: float = param(0.3, gt=0, le=1, help="relaxation step alpha: r <- r + alpha ([input(r)]_+ - r)")
    steps: int = param(200, ge=0, help="training batches of matched stimuli S = P")
    batch_size: int = param(64, ge=1, help="stimuli per training batch")
    lr: float = param(0.01, gt=0, help="homeostatic learning rate")
    lr_final: float | None = param(None, gt=0, help="last learning rate of a geometric schedule from lr "
                                                    "(none: constant lr)")
    pv_rate: float = param(0.0, ge=0, help="rate of PV<-SST / PV<-VIP plasticity relative to lr")
    s_max: float = param(5.0, gt=0, help="training amplitudes s ~ U(0, s_max)")
    n_amplitudes: int = param(10, ge=1, help="probe amplitudes, evenly spaced in [s_max/n, s_max]")
    ratio: float = param(5.0, gt=1, help="PE-cell criterion: mismatch response >= ratio x matched response")
    min_response: float = param(1.0, gt=0, help="PE-cell criterion: mismatch response exceeds matched by this")


class PEMicrocircuit(nn.Module):
    """The E/I prediction-error microcircuit; weights are buffers (trained by the homeostatic rule only).

    Cell i gets ``a_i = drive * u_i`` (S onto the soma) and ``b_i = drive * (1 - u_i)`` (P onto the
    dendrite) with ``u_i ~ Beta(mix, mix)``; a random half of each interneuron type receives S, the rest P.
    The plastic inhibitory weights onto E (soma, dendrite) and onto PV start with mean ``scale / n_pre``;
    the fixed PV<-PV, SST<-VIP and VIP<-SST weights likewise (see :class:`PEMicrocircuitConfig`).

    Args:
        config: the circuit, its training and its probe.
        generator: draws the random weights (required: no global RNG).
    """

    PLASTIC = ("W_EP", "W_DS", "W_PS", "W_PV")

    def __init__(self, config: PEMicrocircuitConfig = PEMicrocircuitConfig(), *, generator: torch.Generator):
        super().__init__()
        c = self.config = config
        n_e, n_pv, n_sst, n_vip = c.n_e, c.n_pv, c.n_sst, c.n_vip
        self.sizes = {"E": n_e, "PV": n_pv, "SST": n_sst, "VIP": n_vip}
        self.tau_e, self.tau_i, self.rho_e, self.rho_d = c.tau_e, c.tau_i, c.rho_e, c.rho_d
        self.w_ed, self.background = c.w_ed, c.background
        g = generator
        uu = _beta(c.mix, n_e, g)
        self.register_buffer("a", c.drive * uu)                   # S -> soma
        self.register_buffer("b", c.drive * (1 - uu))             # P -> dendrite
        for name, n in (("PV", n_pv), ("SST", n_sst), ("VIP", n_vip)):
            s_driven = torch.zeros(n)
            s_driven[torch.randperm(n, generator=g)[: n // 2]] = 1.0
            self.register_buffer(f"in_{name}", torch.stack([s_driven, 1 - s_driven], 1))  # (n, 2): S, P weights

        def init(rows: int, cols: int, scale: float) -> torch.Tensor:
            return scale * torch.rand(rows, cols, generator=g) * 2 / cols

        self.register_buffer("W_EP", init(n_e, n_pv, c.w_init))   # plastic
        self.register_buffer("W_DS", init(n_e, n_sst, c.w_init))  # plastic
        self.register_buffer("W_PS", init(n_pv, n_sst, c.w_init_pv))  # plastic
        self.register_buffer("W_PV", init(n_pv, n_vip, c.w_init_pv))  # plastic
        self.register_buffer("W_PP", init(n_pv, n_pv, c.w_pp))     # fixed
        self.register_buffer("W_SV", init(n_sst, n_vip, c.w_sv))   # fixed
        self.register_buffer("W_VS", init(n_vip, n_sst, c.w_vs))   # fixed
        self.register_buffer("w_ie", torch.full((3,), float(c.w_ie)))  # E -> PV, SST, VIP (mean E rate)

    def initial_state(self, batch: int) -> dict[str, torch.Tensor]:
        dev = self.a.device
        return {"E": torch.full((batch, self.sizes["E"]), self.rho_e, device=dev),
                "D": torch.zeros(batch, self.sizes["E"], device=dev),
                **{k: torch.zeros(batch, self.sizes[k], device=dev) for k in ("PV", "SST", "VIP")}}

    def targets(self, r: dict[str, torch.Tensor], S: torch.Tensor, P: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rectified input of every population given rates `r` and inputs S, P (each (batch,))."""
        sp = torch.stack([S, P], 1)                                   # (B, 2)
        e_mean = r["E"].mean(1, keepdim=True)
        x = self.background
        return {
            "D": _relu(self.b * P[:, None] - r["SST"] @ self.W_DS.T),
            "E": _relu(self.rho_e + self.a * S[:, None] + self.w_ed * r["D"] - r["PV"] @ self.W_EP.T),
            "PV": _relu(x + sp @ self.in_PV.T + self.w_ie[0] * e_mean - r["SST"] @ self.W_PS.T
                        - r["VIP"] @ self.W_PV.T - r["PV"] @ self.W_PP.T),
            "SST": _relu(x + sp @ self.in_SST.T + self.w_ie[1] * e_mean - r["VIP"] @ self.W_SV.T),
            "VIP": _relu(x + sp @ self.in_VIP.T + self.w_ie[2] * e_mean - r["SST"] @ self.W_VS.T),
        }

    def step(self, r: dict[str, torch.Tensor], S: torch.Tensor, P: torch.Tensor, dt: float) -> dict:
        """One exponential-Euler step of ``tau dr/dt = -r + [input]_+`` (stable for any dt)."""
        t = self.targets(r, S, P)
        ke, ki = 1 - math.exp(-dt / self.tau_e), 1 - math.exp(-dt / self.tau_i)
        return {k: r[k] + (ke if k in ("E", "D") else ki) * (t[k] - r[k]) for k in r}

    def steady_state(self, S: torch.Tensor, P: torch.Tensor, *, iterations: int | None = None,
                     alpha: float | None = None, state: dict | None = None) -> dict[str, torch.Tensor]:
        """The fixed point for constant inputs S, P (each (batch,)), by damped relaxation
        ``r <- r + alpha ([input(r)]_+ - r)`` from `state` or the baseline (`iterations` and `alpha` default
        to the config's ``iterations`` and ``relax_rate``): the fixed point of the rate dynamics does not
        depend on the time constants, so all populations relax at one rate."""
        iterations = self.config.iterations if iterations is None else iterations
        alpha = self.config.relax_rate if alpha is None else alpha
        S, P = _check_inputs(S, P)
        S, P = S.to(self.a.device), P.to(self.a.device)
        r = state if state is not None else self.initial_state(len(S))
        for _ in range(iterations):
            t = self.targets(r, S, P)
            r = {k: r[k] + alpha * (t[k] - r[k]) for k in r}
        return r

    def simulate(self, S: torch.Tensor, P: torch.Tensor, *, dt: float = 0.001, substeps: int = 1,
                 ) -> dict[str, torch.Tensor]:
        """Rates over time for inputs S, P of shape (time, batch) sampled every `dt` * `substeps` s; the
        circuit starts at the fixed point of the first inputs. Returns (time, batch, cells) per population."""
        if S.shape != P.shape or S.dim() != 2:
            raise ShapeError(f"S and P must both be (time, batch); got {tuple(S.shape)} and {tuple(P.shape)}")
        r = self.steady_state(S[0], P[0])
        out = {k: [] for k in r}
        for t in range(S.shape[0]):
            for _ in range(substeps):
                r = self.step(r, S[t], P[t], dt)
            for k in r:
                out[k].append(r[k])
        return {k: torch.stack(v) for k, v in out.items()}

    @torch.no_grad()
    def plasticity(self, r: dict[str, torch.Tensor], lr: float, pv_rate: float = 1.0) -> None:
        """The homeostatic inhibitory rule on batch-mean steady-state rates: |w_{E<-PV}| grows with
        (r_E - rho_E) r_PV, |w_{D<-SST}| with (r_D - rho_D) r_SST; PV's inhibitory inputs (from SST, VIP)
        shrink with the somatic excess fed back through E<-PV onto active PV cells, (W_EP^T (r_E - rho_E)) r_X
        (the gradient of the somatic deviation), at `pv_rate` x `lr`."""
        B = r["E"].shape[0]
        de, dd = r["E"] - self.rho_e, r["D"] - self.rho_d
        self.W_EP.add_(lr * de.T @ r["PV"] / B).clamp_(min=0)
        self.W_DS.add_(lr * dd.T @ r["SST"] / B).clamp_(min=0)
        back = (de @ self.W_EP) * (r["PV"] > 0)                 # (B, n_pv), through active PV cells only
        self.W_PS.sub_(pv_rate * lr * back.T @ r["SST"] / B).clamp_(min=0)
        self.W_PV.sub_(pv_rate * lr * back.T @ r["VIP"] / B).clamp_(min=0)

    def train_matched(self, generator: torch.Generator) -> list[float]:
        """Homeostatic training on fully predicted stimuli S = P = s, s ~ U(0, s_max) drawn from `generator`:
        each of the config's ``steps`` simulates a batch of ``batch_size`` to steady state and applies
        :meth:`plasticity`, the rate going geometrically from ``lr`` to ``lr_final`` (none: constant), PV's
        inputs at ``pv_rate`` x that. Returns the mean |r_E - rho_E| per step."""
        c = self.config
        lr, lr_final = c.lr, c.lr if c.lr_final is None else c.lr_final
        dev = self.a.device
        history = []
        for k in range(c.steps):
            s = c.s_max * torch.rand(c.batch_size, generator=generator, device=generator.device).to(dev)
            r = self.steady_state(s, s)
            self.plasticity(r, lr * (lr_final / lr) ** (k / max(c.steps - 1, 1)), c.pv_rate)
            history.append(float((r["E"] - self.rho_e).abs().mean()))
        return history

    def amplitudes(self) -> torch.Tensor:
        """The config's probe amplitudes: ``n_amplitudes`` evenly spaced in [s_max / n_amplitudes, s_max]."""
        n, s_max = self.config.n_amplitudes, self.config.s_max
        return torch.linspace(s_max / n, s_max, n)

    def probe(self, amplitudes: torch.Tensor | None = None, **kw) -> dict[str, torch.Tensor]:
        """Steady somatic rates (amplitudes x cells) for matched (S = P = s), negative mismatch (S = 0, P = s),
        positive mismatch (S = s, P = 0) and baseline (S = P = 0), at `amplitudes` (default
        :meth:`amplitudes`); `kw` go to :meth:`steady_state`."""
        s = torch.as_tensor(self.amplitudes() if amplitudes is None else amplitudes, dtype=torch.float32,
                            device=self.a.device)
        z = torch.zeros_like(s)
        S = torch.cat([s, z, s, z[:1]])
        P = torch.cat([s, s, z, z[:1]])
        E = self.steady_state(S, P, **kw)["E"]
        n = len(s)
        return {"matched": E[:n], "negative": E[n:2 * n], "positive": E[2 * n:3 * n], "baseline": E[3 * n]}

    def classify(self, responses: dict) -> np.ndarray:
        """Label each E cell "nPE", "pPE" or "none" (:func:`brainlearn.analysis.mismatch.classify_pe`) from
        :meth:`probe`'s responses (amplitudes x cells, tensors or float64 arrays), averaged over the
        amplitudes in float64, with the config's ``ratio`` and ``min_response``."""
        mean = {k: _float64(responses[k]).mean(0) for k in ("matched", "negative", "positive")}
        return classify_pe(mean["matched"], mean["negative"], mean["positive"], ratio=self.config.ratio,
                           min_response=self.config.min_response)


def _float64(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def _beta(c: float, n: int, g: torch.Generator) -> torch.Tensor:
    """n draws of Beta(c, c) from generator `g` (torch's Beta sampler draws from the global RNG, which
    library code must not touch): Johnk's method for c <= 1, the ratio of two Marsaglia-Tsang gamma draws
    above (Johnk's acceptance falls like 1 / binom(2c, c) there)."""
    if c > 1:
        v1, v2 = _gamma_unit(c, n, g), _gamma_unit(c, n, g)
        return (v1 / (v1 + v2)).float()
    out = torch.empty(0)
    while len(out) < n:  # Johnk: accept when U^(1/c) + V^(1/c) <= 1; a few rounds at most
        U, V = torch.rand(2, 4 * n, generator=g, dtype=torch.float64) ** (1 / c)
        ok = (U + V <= 1) & (U + V > 0)
        out = torch.cat([out, (U[ok] / (U[ok] + V[ok])).float()])
    return out[:n]


def _gamma_unit(c: float, n: int, g: torch.Generator) -> torch.Tensor:
    """n draws of Gamma(c) / (c - 1/3) for c >= 1 (Marsaglia & Tsang 2000; acceptance above 95%). The common
    factor c - 1/3 is left out, so that a ratio of two draws stays finite for any c."""
    d = c - 1 / 3
    k = 1 / math.sqrt(9 * d)
    out = torch.empty(0, dtype=torch.float64)
    while len(out) < n:
        x = torch.randn(2 * n, generator=g, dtype=torch.float64)
        u = torch.rand(2 * n, generator=g, dtype=torch.float64)
        v = (1 + k * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x ** 2 + d * (1 - v + torch.log(v.clamp_min(1e-300))))
        out = torch.cat([out, v[ok]])
    return out[:n]


def _check_inputs(S, P):
    S, P = torch.as_tensor(S, dtype=torch.float32), torch.as_tensor(P, dtype=torch.float32)
    if S.dim() != 1 or S.shape != P.shape:
        raise ShapeError(f"S and P must be 1-D of one length (batch,); got {tuple(S.shape)} and {tuple(P.shape)}")
    if torch.isnan(S).any() or torch.isnan(P).any():
        raise ShapeError("S and P contain NaN")
    return S, P


# --------------------------------------------------------------------------------------------------
# Hierarchical predictive coding
# --------------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "linear": (lambda x: x, lambda x: torch.ones_like(x)),
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "relu": (_relu, lambda x: (x > 0).to(x.dtype)),
}


@dataclass(frozen=True)
class HierarchicalPCConfig(Config):
    """Hierarchical predictive coding: the layer widths (input first), the activation and the top prior."""

    sizes: tuple[int, ...] = param(ge=1, nonempty=True, help="layer widths, input first (at least 2 layers)")
    activation: Literal["linear", "tanh", "relu"] = param("tanh", help="f of the top-down predictions W f(mu)")
    prior: float = param(0.1, ge=0, help="precision of the top layer's zero-mean Gaussian prior")

    def __post_init__(self):
        super().__post_init__()
        require(len(self.sizes) >= 2, f"sizes must list at least 2 layer widths, got {self.sizes}")


class HierarchicalPC(nn.Module):
    """Hierarchical predictive coding (Rao & Ballard 1999) with sign-split error units.

    Layer 0 is the input; layer l predicts layer l - 1 as ``x_hat_{l-1} = W_{l-1} f(mu_l)``. Errors
    ``e_l = mu_l - x_hat_l`` are carried by two rectified populations, ``e+_l = [e_l]_+`` (more than
    predicted) and ``e-_l = [-e_l]_+`` (less), so ``e_l = e+_l - e-_l``. Inference descends the energy
    ``F = 1/2 sum_l |e_l|^2 + prior/2 |mu_L|^2``: ``dmu_l/dt = -e_l + f'(mu_l) * W_{l-1}^T e_{l-1}``; learning
    is ``dW_l = lr e_l f(mu_{l+1})^T``, both vectorised over a batch (rows).

    Args:
        config: layer widths, activation and prior.
        generator: draws the initial weights (scale 1/sqrt(fan-in)).
    """

    def __init__(self, config: HierarchicalPCConfig, *, generator: torch.Generator):
        super().__init__()
        self.config = config
        sizes = self.sizes = config.sizes
        self.prior = config.prior
        self.f, self.df = ACTIVATIONS[config.activation]
        self.weights = nn.ParameterList([
            nn.Parameter(torch.randn(sizes[l], sizes[l + 1], generator=generator) / math.sqrt(sizes[l + 1]),
                         requires_grad=False) for l in range(len(sizes) - 1)])

    def errors(self, mus: list[torch.Tensor]) -> list[torch.Tensor]:
        return [mus[l] - self.f(mus[l + 1]) @ self.weights[l].T for l in range(len(mus) - 1)]

    def energy(self, mus: list[torch.Tensor]) -> torch.Tensor:
        """F per batch row."""
        return sum(0.5 * (e ** 2).sum(1) for e in self.errors(mus)) + 0.5 * self.prior * (mus[-1] ** 2).sum(1)

    def infer(self, x: torch.Tensor, steps: int = 100, rate: float = 0.1) -> dict[str, list[torch.Tensor]]:
        """Settle the latent layers for input batch `x` (batch x sizes[0]); returns ``mus``, the sign-split
        errors ``e_pos``/``e_neg`` per layer at the end, and ``energy`` (steps + 1 values, batch mean)."""
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(f"x must be (batch, {self.sizes[0]}), got {tuple(x.shape)}")
        mus = [x] + [torch.zeros(len(x), n, device=x.device) for n in self.sizes[1:]]
        energy = [float(self.energy(mus).mean())]
        for _ in range(steps):
            errs = self.errors(mus)
            for l in range(1, len(mus)):
                own = errs[l] if l < len(errs) else self.prior * mus[l]
                mus[l] = mus[l] + rate * (-own + self.df(mus[l]) * (errs[l - 1] @ self.weights[l - 1]))
            energy.append(float(self.energy(mus).mean()))
        errs = self.errors(mus)
        return {"mus": mus, "e_pos": [_relu(e) for e in errs], "e_neg": [_relu(-e) for e in errs], "energy": energy}

    @torch.no_grad()
    def learn(self, x: torch.Tensor, lr: float = 0.05, steps: int = 100, rate: float = 0.1) -> float:
        """Infer on `x`, then ``dW_l = lr e_l f(mu_{l+1})^T`` (batch mean); returns the settled energy."""
        out = self.infer(x, steps, rate)
        mus, errs = out["mus"], self.errors(out["mus"])
        for l, w in enumerate(self.weights):
            w.add_(lr * errs[l].T @ self.f(mus[l + 1]) / len(x))
        return out["energy"][-1]


# --------------------------------------------------------------------------------------------------
# Temporal predictive coding
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TemporalPCConfig(Config):
    """Temporal predictive coding: input and latent widths and the precision of the temporal prior."""

    n_in: int = param(16, ge=1, help="input units (one per input channel); e+ and e- error units each")
    n_latent: int = param(16, ge=1, help="latent units")
    prior: float = param(0.1, gt=0, help="precision of the temporal prior mu ~ N(V mu_{t-1}, 1/prior)")
    v_init: float = param(0.0, ge=0, help="V starts at v_init Q, Q a random orthogonal matrix (0: V starts at 0, "
                                          "and no state survives a blank bin; see TemporalPC)")


class TemporalPC(nn.Module):
    """The temporal variant of predictive coding: a latent state predicts the next input.

    At each time bin the previous *settled* state predicts the current one, ``mu_hat_t = V mu_{t-1}``, and the
    input, ``x_hat_t = W mu_hat_t``. The error units' response to the input is the prediction error at onset,
    ``e+ = [x_t - x_hat_t]_+`` and ``e- = [x_hat_t - x_t]_+``. The state then settles to the minimum of
    ``1/2 |x_t - W mu|^2 + prior/2 |mu - mu_hat_t|^2`` (in closed form, or by ``inference_steps`` of
    gradient descent), and learning moves ``W`` along ``(x_t - W mu_t) mu_t^T`` and ``V`` along
    ``(mu_t - mu_hat_t) mu_{t-1}^T``. Linear units, so the sign-split errors recombine exactly.

    A blank bin (x_t = 0) settles the state to ``prior (W^T W + prior I)^-1 V mu_{t-1}``: along a direction that
    W reads with singular value s the memory shrinks by ``prior / (prior + s^2)`` per blank bin; only directions
    W does not read (there are some only if ``n_latent > n_in``) keep it. With V = 0 the state after a blank bin
    is exactly 0, so V's update ``(mu_t - 0) mu_{t-1}^T`` is 0 whenever the bin before an input is blank: V = 0
    is then a fixed point of learning. This is why a stimulus followed by a blank interval (an oddball binned at
    the stimulus length) needs ``v_init > 0`` and ``n_latent > n_in``; the reference code of Millidge et al.
    likewise starts its transition matrix at random (N(0, 0.1^2) entries), not at 0. :meth:`run` raises when
    learning cannot change V at all.

    Args:
        config: widths, prior and V's initial gain.
        generator: draws the initial W (orthonormal columns) and, if ``v_init > 0``, V's orthogonal Q.
    """

    def __init__(self, config: TemporalPCConfig = TemporalPCConfig(), *, generator: torch.Generator):
        super().__init__()
        self.config = config
        n_in, n_latent = config.n_in, config.n_latent
        q, _ = torch.linalg.qr(torch.randn(max(n_in, n_latent), max(n_in, n_latent), generator=generator))
        self.W = nn.Parameter(q[:n_in, :n_latent].contiguous(), requires_grad=False)
        V = torch.zeros(n_latent, n_latent)
        if config.v_init > 0:  # drawn after W, so v_init = 0 leaves W's draw as it was
            V = config.v_init * torch.linalg.qr(torch.randn(n_latent, n_latent, generator=generator))[0]
        self.V = nn.Parameter(V, requires_grad=False)
        self.prior = config.prior

    def settle(self, x: torch.Tensor, mu_hat: torch.Tensor, steps: int | None = None, rate: float = 0.2):
        """The settled state for inputs `x` (batch x n_in) given prior means `mu_hat`: closed form if
        `steps` is None, else `steps` of gradient descent on the energy from ``mu_hat``."""
        if steps is None:
            A = self.W.T @ self.W + self.prior * torch.eye(self.W.shape[1], device=x.device)
            return torch.linalg.solve(A, (x @ self.W + self.prior * mu_hat).T).T
        mu = mu_hat.clone()
        for _ in range(steps):
            mu = mu + rate * ((x - mu @ self.W.T) @ self.W - self.prior * (mu - mu_hat))
        return mu

    @torch.no_grad()
    def run(self, X: torch.Tensor, *, lr: float = 0.0, inference_steps: int | None = None) -> dict[str, torch.Tensor]:
        """Run over inputs `X` (time x batch x n_in), learning with rate `lr` (0: weights held). Returns
        the onset errors ``e_pos``, ``e_neg`` (time x batch x n_in) and the predictions ``x_hat``."""
        if X.dim() != 3 or X.shape[2] != self.W.shape[0]:
            raise ShapeError(f"X must be (time, batch, {self.W.shape[0]}), got {tuple(X.shape)}")
        if lr and not self.V.any():
            seen = X.ne(0).any(2)                                   # (time, batch): bins with input
            joined, after_blank = int((seen[1:] & seen[:-1]).sum()), int((seen[1:] & ~seen[:-1]).sum())
            if not joined:  # V = 0 keeps a 0 state after every blank bin: dV = 0 throughout
                raise ConfigError("TemporalPC cannot learn V: V is 0 and every bin with input follows a blank bin, "
                                  "so the state before each input is 0 and V's update is 0; set v_init > 0 with "
                                  "n_latent > n_in (a state W does not read survives blank bins), or use bins "
                                  "that join consecutive stimuli")
            if after_blank:  # V learns only from the joined bins; nothing yet carries across a blank
                log.warning("TemporalPC starts with V = 0: V learns only from the %d bins with input right after "
                            "input; the %d bins with input after a blank bin are predicted only once that has made V "
                            "non-zero (v_init > 0 with n_latent > n_in lets a state survive blank bins)",
                            joined, after_blank)
        mu = torch.zeros(X.shape[1], self.W.shape[1], device=X.device)
        pos, neg, preds = [], [], []
        for t in range(X.shape[0]):  # time is sequential; cells and batch are vectorised
            x = X[t]
            mu_hat = mu @ self.V.T
            x_hat = mu_hat @ self.W.T
            e = x - x_hat
            pos.append(_relu(e))
            neg.append(_relu(-e))
            preds.append(x_hat)
            new = self.settle(x, mu_hat, inference_steps)
            if lr:
                B = len(x)
                self.W.add_(lr * (x - new @ self.W.T).T @ new / B)
                self.V.add_(lr * (new - mu_hat).T @ mu / B)
            mu = new
        return {"e_pos": torch.stack(pos), "e_neg": torch.stack(neg), "x_hat": torch.stack(preds)}


# --------------------------------------------------------------------------------------------------
# The adaptation-only null model
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdaptationModelConfig(Config):
    """The depressing input gain of the adaptation-only null model."""

    tau_rec: float = param(2.0, gt=0, help="recovery time constant of the gain (s)")
    u: float = param(10.0, ge=0, help="depression rate (1/s per unit input)")


class AdaptationModel(nn.Module):
    """The adaptation-only null model: per channel, a depressing gain ``r = g s`` with
    ``dg/dt = (1 - g)/tau_rec - u g s``, integrated exactly for inputs held constant within each time bin.
    The response in a bin is the bin average of ``g(t) s``. No prediction: adaptation is stimulus-specific.
    Deterministic: it draws nothing."""

    def __init__(self, config: AdaptationModelConfig = AdaptationModelConfig()):
        super().__init__()
        self.config = config
        self.tau_rec, self.u = config.tau_rec, config.u
        self.register_buffer("_anchor", torch.zeros(0))  # the device the model was placed on

    @torch.no_grad()
    def run(self, X: torch.Tensor, dt: float) -> dict[str, torch.Tensor]:
        """Responses (time x batch x channels) and gains at bin onsets for inputs `X` of that shape."""
        if X.dim() != 3:
            raise ShapeError(f"X must be (time, batch, channels), got {tuple(X.shape)}")
        g = torch.ones(X.shape[1:], device=X.device)
        rs, gs = [], []
        for t in range(X.shape[0]):
            s = X[t]
            k = 1 / self.tau_rec + self.u * s
            g_inf = (1 / self.tau_rec) / k
            decay = torch.exp(-k * dt)
            mean_g = g_inf + (g - g_inf) * (1 - decay) / (k * dt)
            rs.append(mean_g * s)
            gs.append(g)
            g = g_inf + (g - g_inf) * decay
        return {"r": torch.stack(rs), "g": torch.stack(gs)}

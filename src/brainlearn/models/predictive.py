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
"""

from __future__ import annotations

import math

import torch
from torch import nn

from brainlearn.errors import ShapeError

POPULATIONS = ("E", "D", "PV", "SST", "VIP")


def _relu(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp_min(x, 0.0)


class PEMicrocircuit(nn.Module):
    """The E/I prediction-error microcircuit; weights are buffers (trained by the homeostatic rule only).

    Args:
        n_e, n_pv, n_sst, n_vip: population sizes (140 / 20 / 20 / 20 in Hertäg & Sprekeler).
        tau_e, tau_i: time constants (s) of excitatory cells (soma and dendrite) and interneurons.
        rho_e, rho_d: target rates of somata and dendrites.
        drive: feedforward weight scale; cell i gets ``a_i = drive * u_i`` (S onto the soma) and
            ``b_i = drive * (1 - u_i)`` (P onto the dendrite) with ``u_i ~ Beta(mix, mix)``.
        mix: Beta parameter of the S/P mix (below 1: most cells mostly S- or mostly P-driven).
        w_ed: dendrite-to-soma coupling. background: tonic input to the interneurons (the somata get
            ``rho_e``: a cell without net drive sits at its target). w_ie: E -> interneuron weight (of the
            mean E rate).
        w_init, w_init_pv: initial scales of the plastic inhibitory weights onto E (soma, dendrite) and onto
            PV (from SST, VIP); mean ``scale / n_pre``.
        w_pp, w_sv, w_vs: scales of the fixed PV<-PV, SST<-VIP and VIP<-SST weights.
        generator: draws the random weights (required: no global RNG).
    """

    def __init__(self, *, n_e: int = 140, n_pv: int = 20, n_sst: int = 20, n_vip: int = 20, tau_e: float = 0.06,
                 tau_i: float = 0.002, rho_e: float = 1.0, rho_d: float = 0.0, drive: float = 6.0, mix: float = 0.3,
                 w_ed: float = 1.0, background: float = 0.0, w_ie: float = 0.0, w_init: float = 0.5,
                 w_init_pv: float = 0.1, w_pp: float = 0.5,
                 w_sv: float = 0.5, w_vs: float = 0.5,
                 generator: torch.Generator):
        super().__init__()
        if min(n_e, n_pv, n_sst, n_vip) < 1:
            raise ShapeError(f"population sizes must be >= 1, got {(n_e, n_pv, n_sst, n_vip)}")
        self.sizes = {"E": n_e, "PV": n_pv, "SST": n_sst, "VIP": n_vip}
        self.tau_e, self.tau_i, self.rho_e, self.rho_d = tau_e, tau_i, rho_e, rho_d
        self.w_ed, self.background = w_ed, background
        g = generator
        uu = _beta(mix, n_e, g)
        self.register_buffer("a", drive * uu)                   # S -> soma
        self.register_buffer("b", drive * (1 - uu))             # P -> dendrite
        for name, n in (("PV", n_pv), ("SST", n_sst), ("VIP", n_vip)):
            s_driven = torch.zeros(n)
            s_driven[torch.randperm(n, generator=g)[: n // 2]] = 1.0
            self.register_buffer(f"in_{name}", torch.stack([s_driven, 1 - s_driven], 1))  # (n, 2): S, P weights

        def init(rows: int, cols: int, scale: float) -> torch.Tensor:
            return scale * torch.rand(rows, cols, generator=g) * 2 / cols

        self.register_buffer("W_EP", init(n_e, n_pv, w_init))   # plastic
        self.register_buffer("W_DS", init(n_e, n_sst, w_init))  # plastic
        self.register_buffer("W_PS", init(n_pv, n_sst, w_init_pv))  # plastic
        self.register_buffer("W_PV", init(n_pv, n_vip, w_init_pv))  # plastic
        self.register_buffer("W_PP", init(n_pv, n_pv, w_pp))     # fixed
        self.register_buffer("W_SV", init(n_sst, n_vip, w_sv))   # fixed
        self.register_buffer("W_VS", init(n_vip, n_sst, w_vs))   # fixed
        self.register_buffer("w_ie", torch.full((3,), float(w_ie)))  # E -> PV, SST, VIP (mean E rate)

    PLASTIC = ("W_EP", "W_DS", "W_PS", "W_PV")

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

    def steady_state(self, S: torch.Tensor, P: torch.Tensor, *, iterations: int = 80, alpha: float = 0.3,
                     state: dict | None = None) -> dict[str, torch.Tensor]:
        """The fixed point for constant inputs S, P (each (batch,)), by damped relaxation
        ``r <- r + alpha ([input(r)]_+ - r)`` from `state` or the baseline: the fixed point of the rate
        dynamics does not depend on the time constants, so all populations relax at one rate."""
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

    def train_matched(self, steps: int, batch: int, lr: float, generator: torch.Generator, *, s_max: float = 5.0,
                      iterations: int = 80, lr_final: float | None = None, pv_rate: float = 0.0) -> list[float]:
        """Homeostatic training on fully predicted stimuli S = P = s, s ~ U(0, s_max): each step simulates a
        batch to steady state and applies :meth:`plasticity`, the rate going geometrically from `lr` to
        `lr_final` (default: constant). Returns the mean |r_E - rho_E| per step."""
        lr_final = lr if lr_final is None else lr_final
        dev = self.a.device
        history = []
        for k in range(steps):
            s = s_max * torch.rand(batch, generator=generator, device=generator.device).to(dev)
            r = self.steady_state(s, s, iterations=iterations)
            self.plasticity(r, lr * (lr_final / lr) ** (k / max(steps - 1, 1)), pv_rate)
            history.append(float((r["E"] - self.rho_e).abs().mean()))
        return history

    def probe(self, amplitudes: torch.Tensor, **kw) -> dict[str, torch.Tensor]:
        """Steady somatic rates (amplitudes x cells) for matched (S = P = s), negative mismatch (S = 0, P = s),
        positive mismatch (S = s, P = 0) and baseline (S = P = 0)."""
        s = torch.as_tensor(amplitudes, dtype=torch.float32, device=self.a.device)
        z = torch.zeros_like(s)
        S = torch.cat([s, z, s, z[:1]])
        P = torch.cat([s, s, z, z[:1]])
        E = self.steady_state(S, P, **kw)["E"]
        n = len(s)
        return {"matched": E[:n], "negative": E[n:2 * n], "positive": E[2 * n:3 * n], "baseline": E[3 * n]}


def _beta(c: float, n: int, g: torch.Generator) -> torch.Tensor:
    """n draws of Beta(c, c) from generator `g` by Johnk's method (exact for any c > 0; efficient for c <= 1).
    torch's Beta sampler draws from the global RNG, which library code must not touch."""
    out = torch.empty(0)
    while len(out) < n:  # Johnk: accept when U^(1/c) + V^(1/c) <= 1; a few rounds at most
        U, V = torch.rand(2, 4 * n, generator=g, dtype=torch.float64) ** (1 / c)
        ok = (U + V <= 1) & (U + V > 0)
        out = torch.cat([out, (U[ok] / (U[ok] + V[ok])).float()])
    return out[:n]


def _check_inputs(S, P):
    S, P = torch.as_tensor(S, dtype=torch.float32), torch.as_tensor(P, dtype=torch.float32)
    if S.dim() != 1 or S.shape != P.shape:
        raise ShapeError(f"S and P must be 1-D of one length (batch,); got {tuple(S.shape)} and {tuple(P.shape)}")
    if torch.isnan(S).any() or torch.isnan(P).any():
        raise ShapeError("S and P contain NaN")
    return S, P


ACTIVATIONS = {
    "linear": (lambda x: x, lambda x: torch.ones_like(x)),
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "relu": (_relu, lambda x: (x > 0).to(x.dtype)),
}


class HierarchicalPC(nn.Module):
    """Hierarchical predictive coding (Rao & Ballard 1999) with sign-split error units.

    Layer 0 is the input; layer l predicts layer l - 1 as ``x_hat_{l-1} = W_{l-1} f(mu_l)``. Errors
    ``e_l = mu_l - x_hat_l`` are carried by two rectified populations, ``e+_l = [e_l]_+`` (more than
    predicted) and ``e-_l = [-e_l]_+`` (less), so ``e_l = e+_l - e-_l``. Inference descends the energy
    ``F = 1/2 sum_l |e_l|^2 + prior/2 |mu_L|^2``: ``dmu_l/dt = -e_l + f'(mu_l) * W_{l-1}^T e_{l-1}``; learning
    is ``dW_l = lr e_l f(mu_{l+1})^T``, both vectorised over a batch (rows).

    Args:
        sizes: layer widths, input first. activation: "linear", "tanh" or "relu". prior: precision of the
        top layer's zero-mean prior. generator: draws the initial weights (scale 1/sqrt(fan-in)).
    """

    def __init__(self, sizes, *, activation: str = "tanh", prior: float = 0.1, generator: torch.Generator):
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ShapeError(f"sizes must list >= 2 positive layer widths, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ShapeError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        self.sizes, self.prior = tuple(sizes), prior
        self.f, self.df = ACTIVATIONS[activation]
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


class TemporalPC(nn.Module):
    """The temporal variant of predictive coding: a latent state predicts the next input.

    At each time bin the previous state predicts the current one, ``mu_hat_t = V mu_{t-1}``, and the input,
    ``x_hat_t = W mu_hat_t``. The error units' response to the input is the prediction error at onset,
    ``e+ = [x_t - x_hat_t]_+`` and ``e- = [x_hat_t - x_t]_+``. The state then settles to the minimum of
    ``1/2 |x_t - W mu|^2 + prior/2 |mu - mu_hat_t|^2`` (in closed form, or by ``inference_steps`` of
    gradient descent), and learning moves ``W`` along ``(x_t - W mu_t) mu_t^T`` and ``V`` along
    ``(mu_t - mu_hat_t) mu_{t-1}^T``. Linear units, so the sign-split errors recombine exactly.
    """

    def __init__(self, n_input: int, n_latent: int, *, prior: float = 0.1, generator: torch.Generator):
        super().__init__()
        if n_input < 1 or n_latent < 1:
            raise ShapeError(f"n_input and n_latent must be >= 1, got {n_input}, {n_latent}")
        q, _ = torch.linalg.qr(torch.randn(max(n_input, n_latent), max(n_input, n_latent), generator=generator))
        self.W = nn.Parameter(q[:n_input, :n_latent].contiguous(), requires_grad=False)
        self.V = nn.Parameter(torch.zeros(n_latent, n_latent), requires_grad=False)
        self.prior = prior

    def settle(self, x: torch.Tensor, mu_hat: torch.Tensor, steps: int | None = None, rate: float = 0.2):
        """The settled state for inputs `x` (batch x n_input) given prior means `mu_hat`: closed form if
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
        """Run over inputs `X` (time x batch x n_input), learning with rate `lr` (0: weights held). Returns
        the onset errors ``e_pos``, ``e_neg`` (time x batch x n_input) and the predictions ``x_hat``."""
        if X.dim() != 3 or X.shape[2] != self.W.shape[0]:
            raise ShapeError(f"X must be (time, batch, {self.W.shape[0]}), got {tuple(X.shape)}")
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


class AdaptationModel(nn.Module):
    """The adaptation-only null model: per channel, a depressing gain ``r = g s`` with
    ``dg/dt = (1 - g)/tau_rec - u g s``, integrated exactly for inputs held constant within each time bin.
    The response in a bin is the bin average of ``g(t) s``. No prediction: adaptation is stimulus-specific."""

    def __init__(self, *, tau_rec: float = 2.0, u: float = 10.0):
        super().__init__()
        if tau_rec <= 0 or u < 0:
            raise ShapeError(f"need tau_rec > 0 and u >= 0, got {tau_rec}, {u}")
        self.tau_rec, self.u = tau_rec, u
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

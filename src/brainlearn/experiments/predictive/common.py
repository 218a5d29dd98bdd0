"""What the predictive-processing experiments share: the microcircuit config, its training and probe."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn.analysis.mismatch import classify_pe
from brainlearn.models.predictive import PEMicrocircuit
from brainlearn.runtime import Config, make_generator, param, place, replicate_seed

PAPER = "2504.09614"


@dataclass(frozen=True)
class CircuitConfig(Config):
    """The E/I prediction-error microcircuit and its homeostatic training on S = P."""

    n_e: int = param(140, ge=1, help="excitatory cells")
    n_pv: int = param(20, ge=2, help="PV interneurons")
    n_sst: int = param(20, ge=2, help="SST interneurons")
    n_vip: int = param(20, ge=2, help="VIP interneurons")
    tau_e: float = param(0.06, gt=0, help="E soma / dendrite time constant (s)")
    tau_i: float = param(0.002, gt=0, help="interneuron time constant (s)")
    rho_e: float = param(1.0, gt=0, help="somatic target rate")
    drive: float = param(6.0, gt=0, help="feedforward weight scale (S onto soma, P onto dendrite)")
    mix: float = param(0.3, gt=0, help="Beta(mix, mix) parameter of each cell's S / P mix")
    w_ed: float = param(1.0, ge=0, help="dendrite-to-soma coupling")
    w_init: float = param(0.5, ge=0, help="initial scale of the plastic inhibition onto E")
    w_init_pv: float = param(0.1, ge=0, help="initial scale of the plastic inhibition onto PV")
    steps: int = param(200, ge=0, help="training batches of matched stimuli S = P")
    batch: int = param(64, ge=1, help="stimuli per training batch")
    lr: float = param(0.01, gt=0, help="homeostatic learning rate")
    pv_rate: float = param(0.0, ge=0, help="rate of PV<-SST / PV<-VIP plasticity relative to lr")
    s_max: float = param(5.0, gt=0, help="training amplitudes s ~ U(0, s_max)")
    ratio: float = param(5.0, gt=1, help="PE-cell criterion: mismatch response >= ratio x matched response")
    min_response: float = param(1.0, gt=0, help="PE-cell criterion: mismatch response exceeds matched by this")
    n_amplitudes: int = param(10, ge=1, help="probe amplitudes, evenly spaced in [s_max/10, s_max]")


def build_circuit(cfg: CircuitConfig, seed: int) -> PEMicrocircuit:
    return PEMicrocircuit(n_e=cfg.n_e, n_pv=cfg.n_pv, n_sst=cfg.n_sst, n_vip=cfg.n_vip, tau_e=cfg.tau_e,
                          tau_i=cfg.tau_i, rho_e=cfg.rho_e, drive=cfg.drive, mix=cfg.mix, w_ed=cfg.w_ed,
                          w_init=cfg.w_init, w_init_pv=cfg.w_init_pv, generator=make_generator(seed))


def train_circuit(cfg: CircuitConfig, seed: int, device) -> tuple[PEMicrocircuit, list[float]]:
    """A circuit built from seed stream "init" and trained on matched stimuli from stream "data"."""
    circuit = place(build_circuit(cfg, replicate_seed(seed, stream="init")), device)
    history = circuit.train_matched(cfg.steps, cfg.batch, cfg.lr, make_generator(replicate_seed(seed, stream="data")),
                                    s_max=cfg.s_max, pv_rate=cfg.pv_rate)
    return circuit, history


def probe_circuit(circuit: PEMicrocircuit, cfg: CircuitConfig) -> dict[str, np.ndarray]:
    """Mean somatic responses per cell to matched / negative / positive mismatch, the labels, and the
    per-amplitude responses."""
    amps = torch.linspace(cfg.s_max / cfg.n_amplitudes, cfg.s_max, cfg.n_amplitudes)
    p = {k: v.detach().cpu().double().numpy() for k, v in circuit.probe(amps).items()}
    labels = classify_pe(p["matched"].mean(0), p["negative"].mean(0), p["positive"].mean(0), ratio=cfg.ratio,
                         min_response=cfg.min_response)
    return {**p, "labels": labels, "amplitudes": amps.numpy()}


def ratio(a: float, b: float) -> float:
    """a / b with b floored at 1e-3 |a| (a response over a near-zero baseline stays finite)."""
    return float(a / max(abs(b), 1e-3 * abs(a), 1e-12))

"""What the predictive-processing experiments share: the microcircuit's training and probe, and a safe ratio.

The circuit's config is the model's own, :class:`brainlearn.models.predictive.PEMicrocircuitConfig`, nested
in each experiment config as ``circuit`` (``--set circuit.w_pp=0.4``).
"""

from __future__ import annotations

import numpy as np

from brainlearn import papers
from brainlearn.experiments.estimate import steps_work
from brainlearn.models.predictive import PEMicrocircuit, PEMicrocircuitConfig
from brainlearn.paradigms import SequenceProtocol
from brainlearn.runtime import make_generator, place, replicate_seed

PAPER = papers.AIZENBUD
# the alt presets' circuit: 80% of the default's cells in the same 7:1:1:1 proportions of E, PV, SST and VIP
ALT_CIRCUIT = PEMicrocircuitConfig(n_e=112, n_pv=16, n_sst=16, n_vip=16)


def circuit_work(cfg: PEMicrocircuitConfig) -> float:
    """A circuit's training (the factor of an ``Experiment.work``): steps x relaxation iterations, of batch x
    cells² each."""
    return steps_work(cfg.steps * cfg.iterations, cfg.batch_size * cells(cfg) ** 2)


def cells(cfg: PEMicrocircuitConfig) -> int:
    return cfg.n_e + cfg.n_pv + cfg.n_sst + cfg.n_vip


def protocol_work(p: SequenceProtocol, n_latent: int) -> float:
    """A sequence protocol's frames (habituation, test and control sequences), of latent units² each."""
    seconds = p.habituation_min * 60 + (p.n_test + p.n_control) * len(p.orientations) * (p.element + p.gap)
    return steps_work(seconds * p.frame_rate, n_latent ** 2)


def build_circuit(cfg: PEMicrocircuitConfig, seed: int, replicate: int | None, device) -> PEMicrocircuit:
    """Replicate `replicate`'s circuit at initialisation, its weights from seed stream "init", on `device`."""
    return place(PEMicrocircuit(cfg, generator=make_generator(replicate_seed(seed, replicate, "init"))), device)


def train_circuit(cfg: PEMicrocircuitConfig, seed: int, replicate: int | None,
                  device) -> tuple[PEMicrocircuit, list[float]]:
    """Replicate `replicate`'s circuit (stream "init") trained on matched stimuli from stream "data"."""
    circuit = build_circuit(cfg, seed, replicate, device)
    history = circuit.train_matched(make_generator(replicate_seed(seed, replicate, "data")))
    return circuit, history


def probe_circuit(circuit: PEMicrocircuit) -> dict[str, np.ndarray]:
    """Somatic responses (amplitudes x cells, float64) to matched / negative / positive mismatch at the config's
    probe amplitudes, each cell's label (:meth:`PEMicrocircuit.classify`) and the amplitudes."""
    amps = circuit.amplitudes()
    p = {k: v.detach().cpu().double().numpy() for k, v in circuit.probe(amps).items()}
    return {**p, "labels": circuit.classify(p), "amplitudes": amps.numpy()}


def ratio(a: float, b: float) -> float:
    """a / b with b floored at 1e-3 |a| (a response over a near-zero baseline stays finite)."""
    return float(a / max(abs(b), 1e-3 * abs(a), 1e-12))

"""What the predictive-processing experiments share: the microcircuit's training and probe, and a safe ratio.

The circuit's config is the model's own, :class:`brainlearn.models.predictive.PEMicrocircuitConfig`, nested
in each experiment config as ``circuit`` (``--set circuit.w_pp=0.4``).
"""

from __future__ import annotations

import numpy as np

from brainlearn import papers
from brainlearn.models.predictive import PEMicrocircuit, PEMicrocircuitConfig
from brainlearn.runtime import make_generator, place, replicate_seed

PAPER = papers.AIZENBUD
# the alt presets' circuit: 80% of the default's cells in the same 7:1:1:1 proportions of E, PV, SST and VIP
ALT_CIRCUIT = PEMicrocircuitConfig(n_e=112, n_pv=16, n_sst=16, n_vip=16)


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

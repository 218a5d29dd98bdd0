"""predictive-microcircuit: homeostatic inhibitory plasticity on fully predicted stimuli makes nPE and pPE cells.

Each replicate builds a PE microcircuit (140 E cells with soma and dendrite; 20 PV, SST, VIP), probes it
untrained (plasticity frozen at initialisation), trains it on S = P = s with s ~ U(0, 5), and probes it
again: somatic steady states for S = P, for S = 0 < P (negative mismatch) and S > 0 = P (positive), over
amplitudes in [0.5, 5]. Cells are classified nPE / pPE with :func:`brainlearn.analysis.mismatch.classify_pe`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlearn import plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.predictive.common import (
    ALT_CIRCUIT,
    PAPER,
    build_circuit,
    circuit_work,
    probe_circuit,
    ratio,
    train_circuit,
)
from brainlearn.models.predictive import PEMicrocircuitConfig
from brainlearn.runtime import Config, RunContext, param, run_jobs


@dataclass(frozen=True)
class MicrocircuitConfig(Config):
    circuit: PEMicrocircuitConfig = PEMicrocircuitConfig()
    replicates: int = param(1, ge=1, help="independent circuits (seeds)")


def one_circuit(config: MicrocircuitConfig, seed: int, replicate: int, device: str) -> dict:
    """Replicate `replicate`'s circuit: probed at initialisation, trained, probed again (a job of :func:`run`)."""
    cfg = config.circuit
    frozen = probe_circuit(build_circuit(cfg, seed, replicate, device))
    circuit, history = train_circuit(cfg, seed, replicate, device)
    p = probe_circuit(circuit)
    M, N, P = p["matched"].mean(0), p["negative"].mean(0), p["positive"].mean(0)
    npe, ppe = p["labels"] == "nPE", p["labels"] == "pPE"
    out = {
        "balance_dev": float(np.abs(p["matched"] - cfg.rho_e).mean()),
        "balance_dev_max_cell": float(np.abs(p["matched"] - cfg.rho_e).mean(0).max()),
        "frac_npe": float(npe.mean()), "frac_ppe": float(ppe.mean()),
        "npe_ratio": ratio(N[npe].mean(), M[npe].mean()) if npe.any() else float("nan"),
        "ppe_ratio": ratio(P[ppe].mean(), M[ppe].mean()) if ppe.any() else float("nan"),
        "frozen_frac_pe": float((frozen["labels"] != "none").mean()),
        "frozen_balance_dev": float(np.abs(frozen["matched"] - cfg.rho_e).mean()),
    }
    arrays = {"history": history, "amplitudes": p["amplitudes"].tolist(), "labels": p["labels"].tolist(),
              **{k: p[k].tolist() for k in ("matched", "negative", "positive")}}
    return {"metrics": out, "arrays": arrays}


def run(config: MicrocircuitConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"r{k}": (config, seed, k, str(ctx.device)) for k in range(config.replicates)}
    done = run_jobs(one_circuit, jobs, ctx, desc="predictive-microcircuit",
                    on_result=lambda name, out: {"step": int(name[1:]), **out["metrics"]})
    metrics = {k: float(np.median([d["metrics"][k] for d in done.values()])) for k in done["r0"]["metrics"]}
    arrays = {k: np.asarray(v) for k, v in done["r0"]["arrays"].items() if k != "labels"}
    arrays["labels"] = np.asarray(done["r0"]["arrays"]["labels"])
    return Result(metrics, arrays)


def claims(config: MicrocircuitConfig) -> list[Claim]:
    c = config.circuit
    how = (f"{c.n_e} E cells, {c.n_pv}/{c.n_sst}/{c.n_vip} PV/SST/VIP; {c.steps} batches of {c.batch_size} matched "
           f"stimuli s ~ U(0, {c.s_max:g}); probes at {c.n_amplitudes} amplitudes; median over replicates")
    tol = 0.1 * c.rho_e + 0.05
    return [
        Claim("balance", PAPER, "After training on S = P, excitatory cells stay at their target rate when the "
              "stimulus is fully predicted.", "balance_dev", "<", tol, how=how + "; mean |r_E - rho_E| over cells "
              "and amplitudes at S = P", reason="acceptance bound 0.1 rho_E + 0.05", kind="outcome"),
        Claim("npe-ratio", PAPER, "nPE cells respond to P > S (S = 0, P = s) at least 5x their S = P response.",
              "npe_ratio", ">=", 5.0, how=how + "; mean over nPE cells",
              reason="acceptance bound 5x", kind="outcome"),
        Claim("ppe-ratio", PAPER, "pPE cells respond to S > P (S = s, P = 0) at least 5x their S = P response.",
              "ppe_ratio", ">=", 5.0, how=how + "; mean over pPE cells",
              reason="acceptance bound 5x", kind="outcome"),
        Claim("npe-emerge", PAPER, "Training makes negative prediction-error cells (at least 10% of E cells).",
              "frac_npe", ">=", 0.1, how=how,
              reason="both PE types must be a sizeable population; 10% mirrors the frozen-plasticity bound",
              kind="outcome"),
        Claim("ppe-emerge", PAPER, "Training makes positive prediction-error cells (at least 10% of E cells).",
              "frac_ppe", ">=", 0.1, how=how, reason="as npe-emerge", kind="outcome"),
        Claim("frozen-no-pe", PAPER, "With plasticity frozen at initialisation, fewer than 10% of cells qualify "
              "as PE cells.", "frozen_frac_pe", "<", 0.1, how=how,
              reason="acceptance bound 10%", kind="outcome"),
    ]


def plot(result: Result, config: MicrocircuitConfig) -> dict:
    a = result.arrays
    labels = np.asarray(a["labels"])
    amps = np.asarray(a["amplitudes"])
    fig, axes = plotting.figure(3, title="PE microcircuit after homeostatic training")
    for ax, kind in zip(axes[:2], ("nPE", "pPE")):
        cells = np.flatnonzero(labels == kind)
        if len(cells):
            plotting.curves(ax, amps, {c: np.asarray(a[c])[:, cells].mean(1) for c in ("matched", "negative",
                                                                                     "positive")},
                            xlabel="amplitude s", ylabel="rate", title=f"{kind} cells (n = {len(cells)})")
    plotting.curves(axes[2], np.arange(len(a["history"])), {"mean |r_E - rho_E|": a["history"]},
                    xlabel="training batch", ylabel="deviation at S = P", yscale="log")
    return {"pe_cells": fig}


register(Experiment(
    name="predictive-microcircuit", aliases=("pp-microcircuit",), paper=PAPER,
    nan_metrics=("npe_ratio", "ppe_ratio"),  # undefined when the circuit has no cells of that type
    summary="homeostatic inhibitory plasticity on S = P makes balanced nPE and pPE cells (Hertäg & Sprekeler)",
    presets={"quick": MicrocircuitConfig(), "full": MicrocircuitConfig(replicates=5),
             "smoke": MicrocircuitConfig(PEMicrocircuitConfig(n_e=16, n_pv=4, n_sst=4, n_vip=4, steps=20, batch_size=8,
                                                              n_amplitudes=3), replicates=3),
             # the review sets no scale of its own (no units, steps or seeds to match): paper = full
             "paper": MicrocircuitConfig(replicates=5),
             "alt": MicrocircuitConfig(ALT_CIRCUIT)},
    run=run, claims=claims, plot=plot, work=lambda c: c.replicates * circuit_work(c.circuit),
))

"""predictive-closedloop: visuomotor mismatch in the trained PE microcircuit (Keller et al. 2012).

A circuit trained on S = P (as in predictive-microcircuit) sees a closed-loop session, where the visual flow S
follows running (the motor prediction P = gain x running speed), with brief halts of the flow during
running, and then the open-loop playback of the same flow while the animal runs independently. The
response of the nPE cells to each halt (mean rate during the halt minus the second before) is compared
between halts during running in closed loop and the same halts in playback without running.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.estimate import steps_work
from brainlearn.experiments.predictive.common import PAPER, cells, circuit_work, probe_circuit, ratio, train_circuit
from brainlearn.models.predictive import PEMicrocircuitConfig
from brainlearn.paradigms import ClosedLoopProtocol
from brainlearn.runtime import Config, RunContext, param, replicate_seed, run_jobs


@dataclass(frozen=True)
class ClosedLoopConfig(Config):
    circuit: PEMicrocircuitConfig = PEMicrocircuitConfig()
    protocol: ClosedLoopProtocol = ClosedLoopProtocol()
    input_scale: float = param(0.15, gt=0, help="circuit input per cm/s of flow or running")
    substeps: int = param(8, ge=1, help="integration steps per frame")
    pre: float = param(1.0, gt=0, help="window before each halt (s)")
    post: float = param(1.0, ge=0, help="window after each halt (s)")
    replicates: int = param(1, ge=1, help="independent circuits and sessions")


def one_session(config: ClosedLoopConfig, seed: int, replicate: int, device: str) -> dict:
    """Replicate `replicate`: a trained circuit, its nPE cells, and their responses to the halts of one
    closed-loop session and its playback (a job of :func:`run`)."""
    circuit, _ = train_circuit(config.circuit, seed, replicate, device)
    npe = probe_circuit(circuit)["labels"] == "nPE"
    proto = config.protocol
    session = proto.generate(replicate_seed(seed, replicate, "probe"))
    fr = proto.frame_rate
    ev = session.events
    n_pre, n_halt, n_post = (int(round(x * fr)) for x in (config.pre, proto.halt, config.post))
    n = len(session.time)
    on = np.round((ev["start_time"] - np.where(ev["block"] == "playback", proto.duration, 0.0)) * fr).astype(int)
    keep = (on - n_pre >= 0) & (on + n_halt + n_post <= n)
    ev, on = ev.select(keep), on[keep]
    idx = torch.as_tensor(on[:, None] - n_pre + np.arange(n_pre + n_halt + n_post)[None])     # trials x time
    flow = torch.stack([session.flow[b] for b in ev["block"]]) if len(ev) else torch.zeros(0, n)
    run_ = torch.stack([session.running[b] for b in ev["block"]]) if len(ev) else torch.zeros(0, n)
    S = torch.gather(flow, 1, idx).T * config.input_scale                                       # time x trials
    P = torch.gather(run_, 1, idx).T * config.input_scale * proto.gain
    E = circuit.simulate(S.to(device), P.to(device), dt=1 / (fr * config.substeps),
                         substeps=config.substeps)["E"].cpu().double().numpy()               # time x trials x cells
    trace = E[:, :, npe].mean(2) if npe.any() else np.zeros(E.shape[:2])
    resp = trace[n_pre:n_pre + n_halt].mean(0) - trace[:n_pre].mean(0)
    running = ev["running_speed"] > proto.run_threshold
    cl = ev["block"] == "closed_loop"
    pb_still = (ev["block"] == "playback") & ~running
    r_cl, r_pb = resp[cl].mean() if cl.any() else np.nan, resp[pb_still].mean() if pb_still.any() else np.nan
    metrics = {"halt_ratio": ratio(r_cl, r_pb) if cl.any() and pb_still.any() else float("nan"),
               "halt_cl": float(r_cl), "halt_playback_still": float(r_pb), "n_cl": int(cl.sum()),
               "n_playback_still": int(pb_still.sum()), "frac_npe": float(npe.mean())}
    return {"metrics": metrics, "trace_cl": trace[:, cl].mean(1).tolist() if cl.any() else [],
            "trace_pb": trace[:, pb_still].mean(1).tolist() if pb_still.any() else []}


def run(config: ClosedLoopConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"r{k}": (config, seed, k, str(ctx.device)) for k in range(config.replicates)}
    done = run_jobs(one_session, jobs, ctx, desc="predictive-closedloop",
                    on_result=lambda name, out: {"step": int(name[1:]), **out["metrics"]})
    # a replicate whose playback has no halt without running measures nothing (NaN): the median is over the rest
    metrics = {k: float(np.nanmedian(v)) if np.isfinite(v := [d["metrics"][k] for d in done.values()]).any()
               else float("nan") for k in done["r0"]["metrics"]}
    metrics["replicates_measured"] = float(sum(np.isfinite(d["metrics"]["halt_ratio"]) for d in done.values()))
    t = (np.arange(len(done["r0"]["trace_cl"])) / config.protocol.frame_rate) - config.pre
    return Result(metrics, {"time": t, "trace_cl": np.asarray(done["r0"]["trace_cl"]),
                            "trace_pb": np.asarray(done["r0"]["trace_pb"])})


def claims(config: ClosedLoopConfig) -> list[Claim]:
    p = config.protocol
    how = (f"{p.duration:g} s closed loop + {p.duration:g} s playback; {p.halt:g} s halts; nPE-cell rate in the "
           f"halt minus the {config.pre:g} s before; playback halts with running below {p.run_threshold:g} cm/s")
    how += ("; ratio to the magnitude of the playback response; median over the replicates whose playback has "
            "such a halt")
    return [Claim("halt-mismatch", PAPER, "A halt of visual flow during running evokes an nPE response at least 3x "
                  "that of the same halt in playback without running.", "halt_ratio", ">=", 3.0, how=how,
                  reason="acceptance bound 3x", kind="outcome")]


def plot(result: Result, config: ClosedLoopConfig) -> dict:
    a = result.arrays
    fig, (ax,) = plotting.figure(1)
    ys = {k: a[f"trace_{s}"] for k, s in (("closed loop, running", "cl"), ("playback, not running", "pb"))
          if len(a[f"trace_{s}"])}
    plotting.curves(ax, a["time"], ys, xlabel="time from halt onset (s)", ylabel="mean nPE rate",
                    title="visuomotor mismatch (halt of flow)")
    ax.axvspan(0, config.protocol.halt, color="grey", alpha=0.15)
    return {"halt_responses": fig}


register(Experiment(
    name="predictive-closedloop", aliases=("pp-closedloop",), paper=PAPER,
    nan_metrics=("halt_ratio", "halt_cl", "halt_playback_still"),  # undefined in a session without halts
    summary="visuomotor mismatch: nPE responses to flow halts during running vs the same halts in playback",
    presets={"quick": ClosedLoopConfig(), "full": ClosedLoopConfig(replicates=5),
             "smoke": ClosedLoopConfig(PEMicrocircuitConfig(n_e=16, n_pv=4, n_sst=4, n_vip=4, steps=20, batch_size=8),
                                       ClosedLoopProtocol(duration=20.0), substeps=2, replicates=3),
             # the review sets no scale of its own (no units, steps or seeds to match): paper = full
             "paper": ClosedLoopConfig(replicates=5),
             "alt": ClosedLoopConfig(protocol=ClosedLoopProtocol(halt=0.5))},
    run=run, claims=claims, plot=plot,
    # the circuit's training, then its session's integration steps x cells², per replicate
    work=lambda c: c.replicates * (circuit_work(c.circuit) + steps_work(
        c.protocol.duration * c.protocol.frame_rate * c.substeps, cells(c.circuit) ** 2)),
))

"""predictive-sequence: temporal predictive coding vs adaptation on the sequence-mismatch paradigm.

The sequence protocol (ABCD, 250 ms elements, 500 ms gaps; habituation, a test block with substitutions
at position 3 and omissions at p = 0.05, and the many-standards control) is binned at the element
duration into one-hot direction channels. The temporal predictive-coding network learns during
habituation and is held fixed in the test and control blocks; its error units (e+ and e- per channel)
are the cells. The adaptation-only model (a depressing gain per channel) runs on the same input. The
many-standards control tells them apart: a prediction error makes the deviant response exceed the response
to the same stimulus in the control block (SSA index MI_ctrl > 0), adaptation does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlearn import plotting
from brainlearn.analysis.mismatch import contrast, ssa_index
from brainlearn.errors import ConfigError
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.predictive.common import PAPER, protocol_work, ratio
from brainlearn.models.predictive import AdaptationModel, AdaptationModelConfig, TemporalPC, TemporalPCConfig
from brainlearn.paradigms import SequenceProtocol, stimulus_matrix
from brainlearn.runtime import Config, RunContext, make_generator, param, place, replicate_seed, require, run_jobs

NOTE = "docs/experiments/predictive.md#known-non-reproduction-the-adaptation-model"


@dataclass(frozen=True)
class SequenceConfig(Config):
    """The sequence protocol, the two models (their own configs) and the analysis. The input is ``pc.n_in``
    one-hot direction channels (360/n deg each), which both models see."""

    renamed = {"n_channels": "pc.n_in", "n_latent": "pc.n_latent", "prior": "pc.prior",
               "tau_rec": "adaptation.tau_rec", "u": "adaptation.u"}

    protocol: SequenceProtocol = SequenceProtocol(habituation_min=5.0, n_test=400, n_control=400)
    pc: TemporalPCConfig = TemporalPCConfig(n_in=16, n_latent=16, prior=0.1)
    adaptation: AdaptationModelConfig = AdaptationModelConfig(tau_rec=2.0, u=10.0)
    lr: float = param(0.05, gt=0, help="PC learning rate during habituation")
    end_sequences: int = param(10, ge=1, help="sequences at the end of habituation averaged for the error drop")
    n_shuffles: int = param(500, ge=1, help="trial shuffles per SSA p-value")

    def __post_init__(self):
        super().__post_init__()
        require(self.pc.n_in >= 2, f"pc.n_in (the input's direction channels) must be >= 2, got {self.pc.n_in}")


def simulate(config: SequenceConfig, model: str, seed: int, device: str) -> dict:
    """Responses of one model (cells x events) at every element onset, and its per-cell SSA statistics."""
    proto = config.protocol
    table = proto.generate(replicate_seed(seed, stream="data"))
    dt = proto.element
    X = stimulus_matrix(table, dt, config.pc.n_in).to(device)
    n_hab = int(round(proto.n_habituation * (len(proto.orientations) * dt + proto.gap) / dt))
    if model == "pc":
        net = place(TemporalPC(config.pc, generator=make_generator(replicate_seed(seed, stream="init"))), device)
        h = net.run(X[:n_hab, None], lr=config.lr)
        t = net.run(X[n_hab:, None], lr=0.0)
        pos = np.concatenate([h["e_pos"][:, 0].cpu().numpy(), t["e_pos"][:, 0].cpu().numpy()])
        neg = np.concatenate([h["e_neg"][:, 0].cpu().numpy(), t["e_neg"][:, 0].cpu().numpy()])
    else:
        r = place(AdaptationModel(config.adaptation), device).run(X[:, None], dt)["r"][:, 0]
        pos, neg = r.cpu().numpy(), np.zeros_like(r.cpu().numpy())
    onset = np.round(table["start_time"] / dt).astype(int)
    cells = np.concatenate([pos, neg], 1)[onset].T.astype(np.float64)          # cells x events
    st, blk, posn = table["stim_type"], table["block"], table["position"]
    per_seq = len(proto.orientations)
    hab = blk == "habituation"
    seq_err = cells[:, hab].sum(0).reshape(-1, per_seq).mean(1)               # total error per sequence
    dev, om = st == "deviant_ori", st == "omission"
    std_dev = (st == "standard") & (blk == "test") & (posn == proto.deviant_position)
    std_om = (st == "standard") & (blk == "test") & (posn == proto.omission_position)
    ctrl = (blk == "control") & (table["orientation"] == proto.deviant_orientation)
    C = config.pc.n_in
    e_pos, e_neg = cells[:C].sum(0), cells[C:].sum(0)
    total = cells.sum(0)
    if not (dev.any() and om.any() and ctrl.any()):
        raise ConfigError("the session has no deviant, omission or control presentation of the deviant: "
                          "raise protocol.n_test / n_control or the deviant probabilities")
    metrics = {
        "error_drop": ratio(seq_err[-config.end_sequences:].mean(), seq_err[0]),
        "dev_ratio": ratio(e_pos[dev].mean(), e_pos[std_dev].mean()),
        "omission_ratio": ratio(e_neg[om].mean(), e_neg[std_om].mean()),
        "mi_ctrl": float(contrast(total[dev].mean(), total[ctrl].mean())),
        "n_deviants": int(dev.sum()), "n_control": int(ctrl.sum()),
    }
    ssa = ssa_index(cells[:, dev], cells[:, ctrl], n_shuffles=config.n_shuffles,
                    seed=replicate_seed(seed, stream="analysis", index=0))     # the same shuffles for both models
    return {"metrics": metrics, "seq_err": seq_err.tolist(), "ssa": ssa["index"].tolist(), "ssa_p": ssa["p"].tolist(),
            "trace": total[: 40 * per_seq].tolist(),
            "test_trace": total[(blk == "test")][: 40 * per_seq].tolist(),
            "test_types": st[(blk == "test")][: 40 * per_seq].tolist()}


def run(config: SequenceConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {m: (config, m, seed, str(ctx.device)) for m in ("pc", "adaptation")}
    done = run_jobs(simulate, jobs, ctx, desc="predictive-sequence",
                    on_result=lambda name, out: {"step": list(jobs).index(name) + 1, "model": name, **out["metrics"]})
    metrics = {f"{m}_{k}": v for m, out in done.items() for k, v in out["metrics"].items()}
    arrays = {f"{m}_{k}": np.asarray(out[k]) for m, out in done.items()
              for k in ("seq_err", "ssa", "ssa_p", "trace", "test_trace")}
    arrays["test_types"] = np.asarray(done["pc"]["test_types"])
    return Result(metrics, arrays)


def claims(config: SequenceConfig) -> list[Claim]:
    p = config.protocol
    how = (f"{p.habituation_min:g} min habituation, {p.n_test} test and {p.n_control} control sequences; "
           f"{config.pc.n_in} one-hot direction channels binned at {p.element:g} s; cells = e+ and e- units")
    return [
        Claim("pc-error-drop", PAPER, "Repeating a sequence reduces the prediction error within the block to "
              "below half its value at block start.", "pc_error_drop", "<", 0.5, how=how + "; mean total error "
              f"of the last {config.end_sequences} habituation sequences / the first",
              reason="acceptance bound 0.5", kind="outcome"),
        Claim("pc-deviant", PAPER, "A substituted deviant evokes more than 1.5x the positive error of the "
              "standard at that position.", "pc_dev_ratio", ">", 1.5, how=how,
              reason="acceptance bound 1.5", kind="outcome"),
        Claim("pc-omission", PAPER, "An omission evokes more than 2x the negative error of the standard at "
              "that position.", "pc_omission_ratio", ">", 2.0, how=how,
              reason="acceptance bound 2", kind="outcome"),
        Claim("pc-many-standards", PAPER, "The deviant's response exceeds the response to the same stimulus in "
              "the many-standards control (MI_ctrl > 0.1): a true prediction error.", "pc_mi_ctrl", ">", 0.1,
              how=how + "; MI_ctrl = contrast of the summed error response",
              reason="acceptance bound 0.1", kind="outcome"),
        Claim("adaptation-error-drop", PAPER, "The adaptation-only model also passes the first check: its "
              "response falls within the repeated block.", "adaptation_error_drop", "<", 0.5, how=how,
              reason="the same bound as pc-error-drop", expected="fail", note=NOTE,
              kind="outcome"),
        Claim("adaptation-many-standards", PAPER, "The adaptation-only model fails the many-standards control "
              "(MI_ctrl below 0.1), so the control tells the models apart.", "adaptation_mi_ctrl", "<", 0.1,
              how=how, reason="below the bound a prediction error must exceed",
              # MI_ctrl sits on the bound: over seeds it straddles 0.1 at both budgets, so one seed's verdict is
              # a coin flip; reported, not gated (the rarity-matched control is what separates the models)
              expected="fail", gated=False, note=NOTE, kind="outcome"),
        Claim("adaptation-deviant", PAPER, "The adaptation-only model's deviant / standard ratio (stimulus-specific "
              "adaptation; reported).", "adaptation_dev_ratio", ">", 1.5, how=how,
              reason="report only: SSA without prediction", gated=False, kind="outcome"),
    ]


def plot(result: Result, config: SequenceConfig) -> dict:
    a, m = result.arrays, result.metrics
    fig, axes = plotting.figure(3, title="sequence mismatch")
    plotting.curves(axes[0], np.arange(len(a["pc_seq_err"])), {"temporal PC": a["pc_seq_err"],
                                                                 "adaptation": a["adaptation_seq_err"]},
                    xlabel="habituation sequence", ylabel="summed response", title="error across habituation")
    types = np.asarray(a["test_types"])
    x = np.arange(len(a["pc_test_trace"]))
    plotting.curves(axes[1], x, {"temporal PC": a["pc_test_trace"], "adaptation": a["adaptation_test_trace"]},
                    xlabel="test-block element", ylabel="summed response", title="error trace (test block)")
    for k in np.flatnonzero(types != "standard"):
        axes[1].axvline(float(k), color="C3" if types[k] == "deviant_ori" else "C2", lw=0.6, ls=":")
    plotting.bars(axes[2], {"PC": m["pc_mi_ctrl"], "adaptation": m["adaptation_mi_ctrl"]}, ylabel="MI_ctrl",
                  title="many-standards control", reference=0.1)
    return {"sequence": fig}


register(Experiment(
    name="predictive-sequence", aliases=("pp-sequence",), paper=PAPER,
    summary="temporal predictive coding vs adaptation on sequence mismatch; the many-standards control separates them",
    presets={"quick": SequenceConfig(),
             "full": SequenceConfig(protocol=SequenceProtocol(habituation_min=20.0, n_test=2000, n_control=2000)),
             "smoke": SequenceConfig(protocol=SequenceProtocol(habituation_min=1.0, n_test=60, n_control=60,
                                                               p_deviant=0.3, p_omission=0.3, control_orientations=4,
                                                               deviant_orientation=90.0), n_shuffles=20),
             # the review sets no scale of its own (no units, steps or seeds to match): paper = full
             "paper": SequenceConfig(protocol=SequenceProtocol(habituation_min=20.0, n_test=2000, n_control=2000)),
             "alt": SequenceConfig(protocol=SequenceProtocol(habituation_min=5.0, n_test=400, n_control=400,
                                                             element=0.3, gap=0.3))},
    run=run, claims=claims, plot=plot, work=lambda c: protocol_work(c.protocol, c.pc.n_latent),
))

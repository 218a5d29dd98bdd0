"""dendritic: dendritic cortical microcircuits approximate backprop (Sacramento et al. 2018, arXiv:1810.11393).

Four parts, each a claim group, all in the steady-state form of
:class:`~brainlearn.models.dendritic.DendriticNetwork`:

- S1 self-prediction: from random lateral weights and random inputs with no target, pyr->int and
  int->pyr plasticity drive the apical potentials to ~0 (the self-predicting state).
- S2 backprop alignment: in the SPS with symmetric feedback (B = W^T), the steady-state update of
  every layer points along backprop's gradient on the same batch.
- S3 teacher-student regression (30-20-10 softplus): learning all layers beats learning the output
  layer only ("shallow"), with symmetric and with fixed random top-down weights.
- S4 classification (digits, Fashion-MNIST, MNIST given a root): the microcircuit with symmetric and
  with random feedback, against backprop on the same network (brainlearn.nn.MLP, same init and lr).

Each part (in :mod:`~brainlearn.experiments.dendritic.common`) draws its own generators from (seed, part), so
the parts are independent jobs (:func:`~brainlearn.runtime.run_jobs`): a resumed run skips the finished ones
with identical numbers, and with ``--workers`` they run in parallel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from brainlearn import papers, plotting
from brainlearn.data.images import PIXELS
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule
from brainlearn.experiments.dendritic import common
from brainlearn.experiments.dendritic.common import DendriticConfig
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.runtime import RunContext, run_jobs

PARTS = {"s1": common.learn_self_prediction, "s2": common.backprop_alignment, "s3": common.teacher_student,
         "s4": common.classification}


def run_part(config: DendriticConfig, seed: int, part: str, device: str) -> dict:
    """One part as a checkpointable job result: metrics, arrays (as lists) and the records to log."""
    metrics, arrays, records = PARTS[part](config, seed, device)
    return {"metrics": metrics, "arrays": {k: np.asarray(v).tolist() for k, v in arrays.items()},
            "records": records}


def run(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    todo = [p for p in PARTS if not (p == "s4" and config.classification.skip)]
    done = run_jobs(run_part, {p: (config, seed, p, str(ctx.device)) for p in todo}, ctx, desc="dendritic",
                    on_result=lambda part, result: result["records"])
    out = Result()
    for part in done.values():
        out.metrics.update(part["metrics"])
        out.arrays.update({k: np.asarray(v) for k, v in part["arrays"].items()})
    return out


# Thresholds were calibrated once on this implementation and then frozen; the measured values
# behind each are in docs/experiments/dendritic.md.
CLASSIFY_FLOOR = {"digits": (0.88, 0.85), "fashion-mnist": (0.80, 0.75), "mnist": (0.93, 0.90),
                  "cifar10": (0.35, 0.30)}


def claims(config: DendriticConfig) -> list[Claim]:
    tied_floor, random_floor = CLASSIFY_FLOOR[config.dataset]
    clf = config.classification
    out = [
        Claim("S1-self-prediction", papers.SACRAMENTO,
              "From random lateral weights, with random inputs and no target, interneuron plasticity learns "
              "the self-predicting state: apical potentials decay to ~0.", "sps_apical_drop", ">=", 0.9,
              how="1 - mean|v_A| after / before lateral learning, settled, on a fixed probe batch",
              reason="measured drops of 0.955-0.962 after 600 steps and 0.969-0.972 after 3000 (seeds 0-2); "
                     "a 90% drop is 'decays to ~0'", kind="outcome"),
        Claim("S2-align-hidden", papers.SACRAMENTO,
              "With symmetric feedback in the self-predicting state and weak nudging, the hidden-layer updates "
              "approximate backprop.", "align_hidden_max", "<", 10.0,
              how="max over hidden layers of the angle (deg) between the steady-state update and backprop of the "
                  "weak-nudging error phi'(u_N)(u_trgt - u_N); g_som = alignment.g_som (0.1); mean over batches; "
                  "untrained 30-50-20-10 net; teacher targets",
              reason="measured 3.3, 4.9, 7.4 deg (seeds 0-2); 10 deg is well inside 'points along backprop'; "
                     "the test suite checks that the angle -> 0 as g_som -> 0", kind="limit"),
        Claim("S2-align-hidden-potential-mse", papers.SACRAMENTO,
              "The same updates against backprop of the plain MSE on output potentials (exploratory).",
              "align_hidden_max_potential_mse", "<", 10.0,
              how="as S2-align-hidden, reference loss 1/2||u_trgt - u_N||^2",
              reason="reported, not gated: differs from the delivered error by the phi'(u_N) weighting",
              gated=False, kind="limit"),
        Claim("S2-align-hidden-paper-g-som", papers.SACRAMENTO,
              "The same angle at the paper's strong nudging g_som = 0.8 (exploratory).",
              "align_hidden_max_paper_g_som", "<", 10.0,
              how="as S2-align-hidden with g_som = 0.8",
              reason="reported, not gated: with an untrained net the target is far and the nudge is strong, "
                     "outside the weak-nudging limit", gated=False, kind="limit"),
        Claim("S3-deep-learns", papers.SACRAMENTO,
              "Teacher-student regression: with symmetric feedback the network learns the teacher.",
              "ts_tied_over_initial", "<=", 0.1, how="final / initial test MSE (output potentials), tied",
              reason="measured 0.008, 0.029, 0.013 (seeds 0-2); a tenfold drop of the test MSE is 'learns'",
              kind="outcome"),
        Claim("S3-deep-beats-shallow", papers.SACRAMENTO,
              "Learning in all layers beats learning in the output layer only.", "ts_tied_over_shallow", "<=", 0.6,
              how="final test MSE, tied deep / shallow (hidden weights frozen)",
              reason="measured 0.44, 0.63, 0.57 (seeds 0-2, mean 0.55): a thin margin, since the output layer "
                     "alone already explains most of the teacher's variance", kind="outcome"),
        Claim("S3-random-beats-shallow", papers.SACRAMENTO,
              "Deep learning beats shallow learning also with fixed random top-down weights.",
              "ts_random_over_shallow", "<", 1.0, how="final test MSE, random-feedback deep / shallow",
              reason="measured 0.75, 0.83, 0.75 (seeds 0-2); direction only", kind="outcome"),
    ]
    if not clf.skip:
        calibrated = "other datasets: see docs (Fashion-MNIST set before its only run; MNIST, CIFAR-10 not calibrated)"
        out += [
            Claim("S4-tied-accuracy", papers.SACRAMENTO,
                  f"The microcircuit with symmetric feedback learns to classify {config.dataset}.",
                  "clf_tied_acc", ">=", tied_floor, how=f"test accuracy after {clf.epochs_tied} epochs",
                  reason="digits, seeds 0-2: measured 0.878-0.914 after 10 epochs and 0.933-0.939 after 20; "
                         + calibrated, kind="outcome"),
            Claim("S4-random-accuracy", papers.SACRAMENTO,
                  f"The microcircuit with fixed random feedback learns to classify {config.dataset}.",
                  "clf_random_acc", ">=", random_floor, how=f"test accuracy after {clf.epochs_random} epochs",
                  reason="digits, seeds 0-2: measured 0.875-0.925 after 15 epochs and 0.914-0.936 after 60; "
                         + calibrated, kind="outcome"),
            Claim("S4-near-backprop", papers.SACRAMENTO,
                  "With symmetric feedback the microcircuit classifies nearly as well as backprop on the same "
                  "network.", "clf_bp_minus_tied", "<=", 0.03,
                  how="BP minus tied test accuracy after the same number of epochs",
                  reason="'nearly as well' as within 3 points; measured -0.003 to 0.014 on digits (seeds 0-2)",
                  kind="outcome"),
        ]
    return predates_aggregate_rule(out, was={"S1-self-prediction": "mean", "S2-align-hidden": "mean",
                                             "S2-align-hidden-potential-mse": "mean",
                                             "S2-align-hidden-paper-g-som": "mean", "S3-deep-learns": "mean",
                                             "S3-deep-beats-shallow": "mean", "S3-random-beats-shallow": "mean",
                                             "S4-tied-accuracy": "mean", "S4-random-accuracy": "mean",
                                             "S4-near-backprop": "mean"})


def plot(result: Result, config: DendriticConfig) -> dict:
    a, figs = result.arrays, {}
    if "sps_apical" in a:
        fig, (ax,) = plotting.figure()
        plotting.curves(ax, a["sps_step"], {"mean |v_A|": a["sps_apical"]}, xlabel="training step (no target)",
                        ylabel="mean |apical potential|", yscale="log", title="S1: learning the self-predicting state")
        figs["self_prediction"] = fig
    if "align_nudge" in a:
        fig, (ax,) = plotting.figure()
        layers = np.arange(1, a["align_nudge"].shape[1] + 1)
        for g_som, angles in zip(a["align_g_som"], a["align_nudge"]):
            ax.plot(layers, angles, marker="o", label=f"g_som = {g_som:g}")
        ax.plot(layers, a["align_potential"], marker="x", ls="--", color="grey",
                label=f"vs potential MSE, g_som = {config.alignment.g_som:g}")
        ax.set(xlabel="layer", ylabel="angle to backprop (deg)", xticks=layers, title="S2: alignment, B = W^T, SPS")
        ax.legend()
        figs["angle_per_layer"] = fig
    if "ts_tied_mse" in a:
        fig, (ax, ax2) = plotting.figure(2)
        labels = {"tied": "deep, B = W^T", "random": "deep, random B", "shallow": "output only"}
        for name, label in labels.items():
            ax.plot(a[f"ts_{name}_step"], a[f"ts_{name}_mse"], label=label)
            if name != "shallow":
                ax2.plot(a[f"ts_{name}_step"], a[f"ts_{name}_angle"], label=label)
        ax.set(xlabel="step", ylabel="test MSE", yscale="log", title="S3: teacher-student")
        ax2.set(xlabel="step", ylabel="hidden angle to BP (deg)", title="S3: hidden-layer alignment")
        ax.legend()
        ax2.legend()
        figs["teacher_student"] = fig
    if "clf_tied_acc" in a:
        fig, (ax,) = plotting.figure()
        labels = {"tied": "microcircuit, B = W^T", "random": "microcircuit, random B", "bp": "backprop"}
        accs = {label: a[f"clf_{name}_acc"] for name, label in labels.items()}
        plotting.curves(ax, np.arange(1, max(map(len, accs.values())) + 1), accs, dashed=("backprop",),
                        xlabel="epoch", ylabel="test accuracy", title=f"S4: {config.dataset}")
        figs["classification"] = fig
    return figs


def work(c: DendriticConfig) -> float:
    """``Experiment.work``: the classification's updates, of batch x weights each, and the self-prediction's and
    teacher-student's steps, of batch x weights each."""
    k, s, t = c.classification, c.self_prediction, c.teacher_student
    classify = steps_work(c.train_size / k.batch_size * (k.epochs_tied + k.epochs_random),
                          k.batch_size * dense_weights(PIXELS[c.dataset], *k.n_hidden, 10))
    return classify + steps_work(s.steps + t.steps, s.batch_size * dense_weights(*c.network.sizes))


def _preset(config: DendriticConfig, **parts) -> DendriticConfig:
    """`config` with fields of its part configs replaced: ``_preset(c, classification={"lr": 0.3})``."""
    return replace(config, **{part: replace(getattr(config, part), **fields) for part, fields in parts.items()})


FULL = DendriticConfig()
register(Experiment(
    name="dendritic-microcircuit", aliases=("dendritic",), paper=papers.SACRAMENTO,
    summary="dendritic microcircuits: self-prediction, BP alignment, teacher-student, classification",
    presets={
        "quick": _preset(FULL, self_prediction={"steps": 600}, teacher_student={"eval_every": 500},
                         classification={"epochs_tied": 10, "epochs_random": 15}),
        "full": FULL,
        "fashion-mnist": _preset(replace(FULL, dataset="fashion-mnist"),
                                 classification={"n_hidden": (500,), "lr": 0.3, "lateral_lr": 0.03, "bp_lr": 0.03,
                                                 "epochs_tied": 3, "epochs_random": 3}),
        "smoke": _preset(replace(FULL, n_train=200, n_test=100), self_prediction={"steps": 40},
                         alignment={"batches": 2}, teacher_student={"steps": 40, "eval_every": 10, "test": 64},
                         classification={"n_hidden": (16,), "epochs_tied": 2, "epochs_random": 2}),
        # the paper's MNIST network 784-500-500-10 (and its 30-20-10 teacher-student task, as full); the paper's
        # epochs are not known here (full's are kept), the rates are those of the fashion-mnist preset's 784-input net
        "paper": _preset(replace(FULL, dataset="mnist"),
                         classification={"n_hidden": (500, 500), "lr": 0.3, "lateral_lr": 0.03, "bp_lr": 0.03}),
    },
    run=run, claims=claims, plot=plot,
    work=work,
))

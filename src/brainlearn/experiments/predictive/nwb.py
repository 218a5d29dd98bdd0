"""predictive-nwb: model responses through an NWB file and back, and the mismatch analysis on both.

The temporal predictive-coding network runs on a short sequence-mismatch session; its error units' responses
(time x cells at the element rate) and the event table are written in the DANDI / OpenScope ophys layout
(:func:`brainlearn.io.nwb.write_nwb`), validated (pynwb's validator, nwbinspector), read back lazily, and the
per-cell mismatch indices with their trial-shuffle p-values are recomputed from the file. Needs the ``nwb``
extra.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainlearn import plotting
from brainlearn.analysis.mismatch import align_events, mismatch_index
from brainlearn.errors import ConfigError
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.predictive.common import PAPER, protocol_work
from brainlearn.io.nwb import read_nwb, validate_nwb, write_nwb
from brainlearn.models.predictive import TemporalPC, TemporalPCConfig
from brainlearn.paradigms import SequenceProtocol, stimulus_matrix
from brainlearn.runtime import Config, RunContext, make_generator, param, place, replicate_seed, require, run_jobs


@dataclass(frozen=True)
class NWBConfig(Config):
    """The session, the temporal PC network (its own config; its input is ``pc.n_in`` direction channels)
    and the analysis."""

    renamed = {"n_channels": "pc.n_in"}

    protocol: SequenceProtocol = SequenceProtocol(habituation_min=2.0, n_test=200, n_control=20)
    pc: TemporalPCConfig = TemporalPCConfig(n_in=16, n_latent=16)
    lr: float = param(0.05, gt=0, help="PC learning rate during habituation")
    n_shuffles: int = param(500, ge=1, help="trial shuffles per p-value")
    validate: bool = param(True, help="run pynwb's validator and nwbinspector (their claims need it)")

    def __post_init__(self):
        super().__post_init__()
        require(self.pc.n_in >= 2, f"pc.n_in (the input's direction channels) must be >= 2, got {self.pc.n_in}")


def roundtrip(config: NWBConfig, seed: int, device: str) -> dict:
    proto = config.protocol
    table = proto.generate(replicate_seed(seed, stream="data"))
    dt = proto.element
    X = stimulus_matrix(table, dt, config.pc.n_in).to(device)
    net = place(TemporalPC(config.pc, generator=make_generator(replicate_seed(seed, stream="init"))), device)
    out = net.run(X[:, None], lr=config.lr)
    R = np.concatenate([out["e_pos"][:, 0].cpu().numpy(), out["e_neg"][:, 0].cpu().numpy()], 1).astype(np.float32)
    R = np.concatenate([R, np.zeros((4, R.shape[1]), np.float32)])      # room for the last window
    dev = table["stim_type"] == "deviant_ori"
    std = ((table["stim_type"] == "standard") & (table["block"] == "test")
           & (table["position"] == proto.deviant_position))
    if not dev.any() or not std.any():
        raise ConfigError("the session has no deviant or no standard at the deviant position: raise protocol.n_test")
    window = {"pre": 0.0, "post": dt}
    rate = 1 / dt

    shuffles = replicate_seed(seed, stream="analysis", index=0)     # the same shuffles for memory and file

    def analyse(aligned_dev, aligned_std):
        return mismatch_index(aligned_dev, aligned_std, n_shuffles=config.n_shuffles, seed=shuffles)

    mem_dev = align_events(R, table["start_time"][dev], rate=rate, **window)
    mem_std = align_events(R, table["start_time"][std], rate=rate, **window)
    mem = analyse(mem_dev, mem_std)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_nwb(Path(tmp) / "session.nwb", R, rate=rate, events=table, identifier=f"brainlearn-pp-{seed}")
        report = validate_nwb(path) if config.validate else None
        with read_nwb(path) as session:
            events_same = session.events.equals(table)
            ev = session.events
            d = ev["stim_type"] == "deviant_ori"
            s = (ev["stim_type"] == "standard") & (ev["block"] == "test") & (ev["position"] == proto.deviant_position)
            file_dev = session.align(ev["start_time"][d], **window)
            file_std = session.align(ev["start_time"][s], **window)
            data_same = bool(np.array_equal(session.read_all(), R))
    nwb = analyse(file_dev, file_std)
    diffs = [np.abs(a.astype(np.float64) - b).max() for a, b in ((mem_dev, file_dev), (mem_std, file_std),
                                                               (mem["index"], nwb["index"]), (mem["p"], nwb["p"]))]
    identical = all(np.array_equal(a, b) for a, b in ((mem_dev, file_dev), (mem_std, file_std),
                                                     (mem["index"], nwb["index"]), (mem["p"], nwb["p"])))
    metrics = {"max_abs_diff": float(max(diffs)), "identical": float(identical and data_same and events_same),
               "events_identical": float(events_same),
               **({"validator_errors": float(len(report["validator"])),
                   "inspector_errors": float(len(report["inspector_errors"])),
                   "inspector_messages": float(len(report["inspector_all"]))} if report else {}),
               "mi_mean": float(mem["index"].mean()), "frac_significant": float((mem["p"] < 0.05).mean())}
    return {"metrics": metrics, "mi_memory": mem["index"].tolist(), "mi_nwb": nwb["index"].tolist(),
            "messages": report["validator"] + report["inspector_all"] if report else []}


def run(config: NWBConfig, seed: int, ctx: RunContext) -> Result:
    done = run_jobs(roundtrip, {"roundtrip": (config, seed, str(ctx.device))}, ctx, desc="predictive-nwb",
                    on_result=lambda name, out: {"step": 1, **out["metrics"]})["roundtrip"]
    return Result(done["metrics"], {"mi_memory": np.asarray(done["mi_memory"]), "mi_nwb": np.asarray(done["mi_nwb"]),
                                    "messages": np.asarray(done["messages"], dtype=str)})


def claims(config: NWBConfig) -> list[Claim]:
    how = (f"TemporalPC on a sequence session ({config.protocol.n_test} test sequences); {2 * config.pc.n_in} "
           "error units written as a RoiResponseSeries in processing['ophys'], events as TimeIntervals")
    return [
        Claim("roundtrip-exact", PAPER, "Writing, reading and recomputing the mismatch indices gives bit-identical "
              "results.", "max_abs_diff", "<=", 0.0, how=how + "; max |difference| of aligned responses, MI and p",
              reason="a lossless round trip must be exact",
              kind="limit"),
        Claim("roundtrip-identical", PAPER, "The responses, the event table and the analysis read back are identical "
              "to the originals.", "identical", ">=", 1.0, how=how, reason="exactness", kind="limit"),
        Claim("validator-clean", PAPER, "pynwb's validator reports no errors.", "validator_errors", "<=", 0.0,
              how=how, reason="0 errors", kind="limit"),
        Claim("inspector-clean", PAPER, "nwbinspector reports nothing of importance ERROR or CRITICAL.",
              "inspector_errors", "<=", 0.0, how=how, reason="0 errors", kind="limit"),
    ]


def plot(result: Result, config: NWBConfig) -> dict:
    a = result.arrays
    fig, (ax,) = plotting.figure(1)
    ax.scatter(a["mi_memory"], a["mi_nwb"], s=8)
    ax.set(xlabel="MI from model output", ylabel="MI from the NWB file", title="NWB round trip")
    return {"roundtrip": fig}


register(Experiment(
    name="predictive-nwb", aliases=("pp-nwb",), paper=PAPER,
    summary="model responses written to NWB (DANDI ophys layout), validated, read back; identical mismatch analysis",
    presets={"quick": NWBConfig(),
             "full": NWBConfig(protocol=SequenceProtocol(habituation_min=10.0, n_test=2000, n_control=200)),
             "smoke": NWBConfig(protocol=SequenceProtocol(habituation_min=0.5, n_test=40, n_control=20, p_deviant=0.3),
                                n_shuffles=20),
             # a check of this library's NWB round trip, with no scale in the review: paper = full
             "paper": NWBConfig(protocol=SequenceProtocol(habituation_min=10.0, n_test=2000, n_control=200)),
             "alt": NWBConfig(protocol=SequenceProtocol(habituation_min=2.0, n_test=300, n_control=40, p_deviant=0.1))},
    run=run, claims=claims, plot=plot, work=lambda c: protocol_work(c.protocol, c.pc.n_latent),
))

"""The three mismatch protocols: standard oddball, sequence mismatch, sensorimotor closed loop.

Every protocol parameter is a config field; the defaults are those of the OpenScope predictive-processing
protocols (full-field drifting gratings, SF 0.04 cpd, TF 2 Hz; 250 ms on, 1 s ISI; ABCD sequences of
250 ms elements with 500 ms between sequences; deviants and omissions at p = 0.05 after habituation; a
closed loop with grating phase = wheel position / 300 mod 360). ``generate(seed)`` is a pure function of
the config and the seed (a numpy ``Generator`` of its own), and times are snapped to frames of
``frame_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import lfilter

from brainlearn.errors import ConfigError
from brainlearn.paradigms.events import EventTable, make_table
from brainlearn.runtime.config import Config, param, require


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


@dataclass(frozen=True)
class OddballProtocol(Config):
    """Standard oddball: baseline standards, an oddball block, a tuning block and an RF-mapping block."""

    on: float = param(0.25, gt=0, help="grating duration (s); the SLAP2 variant uses 0.343")
    isi: float = param(1.0, ge=0, help="inter-stimulus interval (s); the SLAP2 variant uses 0.343")
    standard_orientation: float = param(0.0, ge=0, lt=360, help="standard direction (deg)")
    deviant_orientations: tuple[float, ...] = param((45.0, 90.0), ge=0, lt=360, help="orientation deviants (deg)")
    n_baseline: int = param(20, ge=0, help="standards before the first deviant")
    n_oddball: int = param(400, ge=1, help="trials in the oddball block")
    p_orientation: float = param(0.05, ge=0, le=1, help="probability of each orientation deviant")
    p_halt: float = param(0.05, ge=0, le=1, help="probability of a halt deviant (TF 0)")
    p_omission: float = param(0.05, ge=0, le=1, help="probability of an omission (contrast 0)")
    p_jitter: float = param(0.05, ge=0, le=1, help="probability of a standard with jittered onset")
    jitter: float = param(0.25, ge=0, help="onset jitter of a jittered standard: uniform in +-jitter (s)")
    tuning_orientations: int = param(16, ge=0, help="tuning-block directions (360/n deg steps)")
    tuning_repeats: int = param(2, ge=0, help="repeats of each tuning direction")
    rf_grid: int = param(3, ge=0, help="RF-mapping patches per side (grid of rf_grid x rf_grid)")
    rf_repeats: int = param(1, ge=0, help="repeats of each RF patch")
    rf_extent: float = param(40.0, gt=0, help="RF-mapping grid extent (deg of visual angle)")
    spatial_frequency: float = param(0.04, gt=0, help="grating spatial frequency (cpd)")
    temporal_frequency: float = param(2.0, ge=0, help="grating temporal frequency (Hz)")
    contrast: float = param(1.0, ge=0, le=1, help="grating contrast")
    frame_rate: float = param(60.0, gt=0, help="display frame rate (Hz); times snap to its frames")

    def __post_init__(self):
        super().__post_init__()
        total = self.p_orientation * len(self.deviant_orientations) + self.p_halt + self.p_omission + self.p_jitter
        require(total <= 1, f"deviant probabilities sum to {total:g} > 1")
        require(self.jitter < self.isi + 1e-12 or self.p_jitter == 0, "jitter must be below the ISI")

    def generate(self, seed: int) -> EventTable:
        rng = _rng(seed)
        period = self.on + self.isi
        kinds = ["standard"] + ["deviant_ori"] * len(self.deviant_orientations) + ["halt", "omission", "jitter"]
        oris = [self.standard_orientation, *self.deviant_orientations] + [self.standard_orientation] * 3
        probs = [self.p_orientation] * len(self.deviant_orientations) + [self.p_halt, self.p_omission, self.p_jitter]
        pick = rng.choice(len(kinds), size=self.n_oddball, p=[1 - sum(probs), *probs])
        kind = np.concatenate([np.full(self.n_baseline, "standard"), np.asarray(kinds)[pick]])
        ori = np.concatenate([np.full(self.n_baseline, self.standard_orientation), np.asarray(oris)[pick]])
        n = len(kind)
        onset = np.arange(n) * period + rng.uniform(-self.jitter, self.jitter, n) * (kind == "jitter")
        block = np.where(np.arange(n) < self.n_baseline, "baseline", "oddball")
        contrast = np.where(kind == "omission", 0.0, self.contrast)
        tf = np.where(kind == "halt", 0.0, self.temporal_frequency)
        parts = [make_table(onset, onset + self.on, kind, ori, block, self.frame_rate, contrast=contrast,
                            temporal_frequency=tf, x=np.full(n, np.nan), y=np.full(n, np.nan))]
        t0 = n * period
        if self.tuning_orientations and self.tuning_repeats:
            dirs = np.arange(self.tuning_orientations) * 360.0 / self.tuning_orientations
            d = rng.permutation(np.repeat(dirs, self.tuning_repeats))
            on = t0 + np.arange(len(d)) * period
            parts.append(make_table(on, on + self.on, "tuning", d, "tuning", self.frame_rate, contrast=self.contrast,
                                    temporal_frequency=self.temporal_frequency, x=np.nan, y=np.nan))
            t0 += len(d) * period
        if self.rf_grid and self.rf_repeats:
            g = (np.arange(self.rf_grid) / max(self.rf_grid - 1, 1) - 0.5) * self.rf_extent
            xs, ys = (a.ravel() for a in np.meshgrid(g, g))
            order = rng.permutation(np.repeat(np.arange(len(xs)), self.rf_repeats))
            on = t0 + np.arange(len(order)) * period
            parts.append(make_table(on, on + self.on, "rf_map", self.standard_orientation, "rf_mapping",
                                    self.frame_rate, contrast=self.contrast, temporal_frequency=self.temporal_frequency,
                                    x=xs[order], y=ys[order]))
        return EventTable.concat(parts)


@dataclass(frozen=True)
class SequenceProtocol(Config):
    """Sequence mismatch: habituation to ABCD, a test block with substitutions and omissions, and the
    many-standards control block (elements drawn uniformly from many directions, no sequence)."""

    orientations: tuple[float, ...] = param((0.0, 45.0, 90.0, 135.0), ge=0, lt=360, nonempty=True,
                                            help="the sequence's element directions (A, B, C, D)")
    deviant_orientation: float = param(270.0, ge=0, lt=360, help="the substituted element's direction")
    element: float = param(0.25, gt=0, help="element duration (s)")
    gap: float = param(0.5, ge=0, help="grey interval between sequences (s)")
    habituation_min: float = param(20.0, ge=0, help="habituation (min of sequences without deviants)")
    n_test: int = param(400, ge=1, help="sequences in the test block")
    p_deviant: float = param(0.05, ge=0, le=1, help="probability that a test sequence has a substitution")
    p_omission: float = param(0.05, ge=0, le=1, help="probability that a test sequence has an omission")
    deviant_position: int = param(2, ge=0, help="position of the substitution (0-based; 2 = the third element)")
    omission_position: int = param(2, ge=0, help="position of the omitted element (0-based)")
    n_control: int = param(400, ge=0, help="sequences of the many-standards control block")
    control_orientations: int = param(16, ge=1, help="directions of the control block (360/n deg steps)")
    frame_rate: float = param(60.0, gt=0, help="display frame rate (Hz); times snap to its frames")

    def __post_init__(self):
        super().__post_init__()
        n = len(self.orientations)
        require(self.deviant_position < n and self.omission_position < n,
                f"deviant/omission positions must be < the sequence length {n}")
        require(self.p_deviant + self.p_omission <= 1, "p_deviant + p_omission must be <= 1")

    @property
    def n_habituation(self) -> int:
        return int(round(self.habituation_min * 60 / (len(self.orientations) * self.element + self.gap)))

    def generate(self, seed: int) -> EventTable:
        rng = _rng(seed)
        L, period = len(self.orientations), len(self.orientations) * self.element + self.gap
        n_h, n_c = self.n_habituation, self.n_control
        n_seq = n_h + self.n_test + n_c
        u = rng.random(self.n_test)
        seq_kind = np.concatenate([np.zeros(n_h, int), np.where(u < self.p_deviant, 1, np.where(
            u < self.p_deviant + self.p_omission, 2, 0)), np.full(n_c, 3)])
        pos = np.tile(np.arange(L), n_seq)
        seq = np.repeat(np.arange(n_seq), L)
        kinds = np.repeat(seq_kind, L)
        ori = np.tile(np.asarray(self.orientations, dtype=float), n_seq)
        stim = np.full(len(pos), "standard", dtype="<U12")
        dev = (kinds == 1) & (pos == self.deviant_position)
        om = (kinds == 2) & (pos == self.omission_position)
        ctrl = kinds == 3
        ori[dev], stim[dev] = self.deviant_orientation, "deviant_ori"
        stim[om] = "omission"
        stim[ctrl] = "control"
        dirs = np.arange(self.control_orientations) * 360.0 / self.control_orientations
        ori[ctrl] = rng.choice(dirs, size=int(ctrl.sum()))
        phase = np.repeat(np.concatenate([np.zeros(n_h, int), np.ones(self.n_test, int), np.full(n_c, 2)]), L)
        block = np.asarray(["habituation", "test", "control"])[phase]
        onset = seq * period + pos * self.element
        local = np.where(seq < n_h, seq, np.where(seq < n_h + self.n_test, seq - n_h, seq - n_h - self.n_test))
        return make_table(onset, onset + self.element, stim, ori, block, self.frame_rate,
                          contrast=np.where(om, 0.0, 1.0), position=pos, sequence=local)


@dataclass
class ClosedLoopSession:
    """A closed-loop session and its open-loop playback: the halt table and the traces (frames)."""

    events: EventTable
    time: torch.Tensor
    running: dict[str, torch.Tensor]      # block -> running speed (cm/s)
    flow: dict[str, torch.Tensor]         # block -> visual flow speed (cm/s equivalent)
    phase: dict[str, torch.Tensor]        # block -> grating phase (deg)


@dataclass(frozen=True)
class ClosedLoopProtocol(Config):
    """Sensorimotor closed loop: visual flow follows running (grating phase = wheel position / 300 mod 360),
    brief halts of the flow during running (visuomotor mismatch), then an open-loop playback of the same flow
    while the animal runs independently."""

    duration: float = param(120.0, gt=0, help="duration of each block (s)")
    frame_rate: float = param(60.0, gt=0, help="frame rate of the traces (Hz)")
    mean_speed: float = param(20.0, gt=0, help="mean running speed during a bout (cm/s)")
    bout: float = param(8.0, gt=0, help="mean running-bout duration (s)")
    rest: float = param(4.0, gt=0, help="mean rest duration (s)")
    smoothing: float = param(0.3, gt=0, help="time constant of speed changes (s)")
    run_threshold: float = param(3.0, ge=0, help="speed above which the animal counts as running (cm/s)")
    halt: float = param(1.0, gt=0, help="halt duration (s)")
    halt_rate: float = param(0.1, gt=0, help="halts per second of running")
    min_gap: float = param(3.0, ge=0, help="minimum time between halts (s)")
    gain: float = param(1.0, gt=0, help="visuomotor gain: flow = gain x running speed in closed loop")
    wheel_scale: float = param(300.0, gt=0, help="grating phase (deg) = wheel position / wheel_scale mod 360")

    def __post_init__(self):
        super().__post_init__()
        frame = 1.0 / self.frame_rate
        # the first-order speed filter x_t = a u_t + (1 - a) x_{t-1}, a = frame / smoothing, is stable and
        # monotone only for a <= 1: a time constant below one frame makes it oscillate and blow up
        require(self.smoothing >= frame, f"smoothing must be at least one frame (1/frame_rate = {frame:g} s), "
                                         f"got {self.smoothing:g}")
        require(self.halt >= frame, f"halt must last at least one frame ({frame:g} s), got {self.halt:g}")
        require(self.duration >= self.min_gap + 2 * self.halt,
                f"duration must hold a halt with its gap (min_gap + 2 halt = {self.min_gap + 2 * self.halt:g} s), "
                f"got {self.duration:g}")

    def _running(self, rng) -> np.ndarray:
        n = int(round(self.duration * self.frame_rate))
        dt = 1.0 / self.frame_rate
        state, target = np.zeros(n, bool), np.zeros(n)
        t, on = 0, bool(rng.random() < 0.5)
        while t < n:  # bouts and rests (a few dozen per block), each a run of frames
            k = max(1, int(rng.exponential(self.bout if on else self.rest) * self.frame_rate))
            state[t:t + k] = on
            target[t:t + k] = rng.gamma(4.0, self.mean_speed / 4.0) if on else 0.0
            t, on = t + k, not on
        a = dt / self.smoothing
        return lfilter([a], [1, -(1 - a)], target)     # first-order smoothing of the bout speeds

    def generate(self, seed: int) -> ClosedLoopSession:
        rng = _rng(seed)
        n = int(round(self.duration * self.frame_rate))
        time = np.arange(n) / self.frame_rate
        run_cl, run_pb = self._running(rng), self._running(rng)
        flow = self.gain * run_cl
        # halts: candidate onsets at Poisson times while running, at least min_gap apart, fully inside the block
        h = int(round(self.halt * self.frame_rate))
        candidates = np.flatnonzero((rng.random(n) < self.halt_rate / self.frame_rate) & (run_cl > self.run_threshold))
        onsets, last = [], -np.inf
        for c in candidates:  # a few dozen candidates
            if c - last >= (self.min_gap + self.halt) * self.frame_rate and c + h < n:
                onsets.append(c)
                last = c
        onsets = np.asarray(onsets, dtype=int)
        halted = np.zeros(n, bool)
        for c in onsets:
            halted[c:c + h] = True
        flow = np.where(halted, 0.0, flow)
        # wheel position (encoder units, here cm x 100) -> grating phase (deg) = position / wheel_scale mod 360
        phase = {b: torch.as_tensor(np.mod(np.cumsum(f) / self.frame_rate * 100 / self.wheel_scale, 360))
                 for b, f in (("closed_loop", flow), ("playback", flow))}
        start = onsets / self.frame_rate
        idx = onsets[:, None] + np.arange(h)[None]
        speed = {"closed_loop": run_cl[idx].mean(1) if len(onsets) else np.zeros(0),
                 "playback": run_pb[idx].mean(1) if len(onsets) else np.zeros(0)}
        tables = [make_table(start + k * self.duration, start + k * self.duration + self.halt, "halt", np.nan, b,
                             self.frame_rate, running_speed=speed[b], contrast=1.0)
                  for k, b in enumerate(("closed_loop", "playback"))]
        f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
        return ClosedLoopSession(EventTable.concat(tables), f32(time),
                                 {"closed_loop": f32(run_cl), "playback": f32(run_pb)},
                                 {"closed_loop": f32(flow), "playback": f32(flow)}, phase)

"""Task families with motifs (after Driscoll, Shenoy & Sussillo): perceptual decision making and go/no-go,
each in four rules built from two motifs, *anti* and *delay*.

    rule        what the network must do
    basic       respond at the go cue (fixation off) as the stimulus says
    anti        the opposite response (the other choice; for go/no-go: go on the no-go cue, hold on go)
    delay       as basic, but a delay period with no stimulus separates the stimulus and the response
    anti_delay  both motifs: the composite task

The trials are drawn on the five-period skeleton of :mod:`brainlearn.data.cognitive.core` (fixation,
stimulus, delay, stimulus 2 (always 0 here), decision) and rendered by its renderer, so the observation is
``[fixation, ring of modality 1 (16), ring of modality 2 (16), rule one-hot (4)]`` (37 inputs) and the
targets are its 17 classes (0 fixate, 1 + k respond toward ring direction k).

- **pdm** (perceptual decision making): two bumps in modality 1 at the two choice directions (ring
  positions 0 and 8), of strengths 0.5 +- c/2 with coherence c drawn from ``coherences``, plus input noise
  of sd ``noise``; basic responds toward the stronger bump, anti toward the weaker.
- **gonogo**: one bump of strength 1 in modality 1 at position 0 (go cue) or 8 (no-go cue), with the same
  input noise; basic responds toward direction 0 on go trials and keeps fixating on no-go trials, anti the
  reverse.

Timings are in milliseconds and are turned into steps of ``dt`` ms (rounded, at least one step for every
period a rule has). Training trials draw each period's duration from a set (``TRAIN_TIMING_MS``); test
trials use fixed durations (``TEST_TIMING_MS``), so the stimulus epoch of every test trial covers the same
steps (:meth:`MotifTasks.stimulus_steps`).

>>> from brainlearn.data.cognitive.motifs import MotifTasks
>>> from brainlearn.runtime import make_generator
>>> tasks = MotifTasks("pdm", dt=100)
>>> batch = tasks.trials(8, make_generator(0), rules="anti_delay", test=True)
>>> batch.inputs.shape                                   # fixed test timings: 5 + 40 + 20 + 5 steps
torch.Size([8, 70, 37])
"""

from __future__ import annotations

import math

import torch

from brainlearn.data.cognitive.core import (
    DECISION,
    DELAY,
    FIXATION,
    N_CLASSES,
    N_RING,
    N_SENSORY,
    STIMULUS,
    Batch,
    TaskSuite,
    Trials,
    _check_generator,
    _check_positive,
)
from brainlearn.errors import ConfigError

FAMILIES = ("pdm", "gonogo")
MOTIF_RULES = ("basic", "anti", "delay", "anti_delay")
COMPOSITE = "anti_delay"
TRAIN_TIMING_MS = {"fixation": (100, 200, 300), "stimulus": (3000, 4000, 5000), "delay": (500, 1000, 1500),
                   "decision": (100, 200, 300)}
TEST_TIMING_MS = {"fixation": 500, "stimulus": 4000, "delay": 2000, "decision": 500}
COHERENCES = (0.08, 0.16, 0.32, 0.64)
MAX_DT = 500.0  # coarser steps would leave the 500 ms periods one step long or less
CHOICES = (0, N_RING // 2)  # the two choice (or cue) directions, as ring positions


def rule_has(rule: str, motif: str) -> bool:
    """Whether `rule` contains `motif` ("anti" or "delay")."""
    return motif in rule.split("_")


class MotifTasks:
    """Trials of one task family (``"pdm"`` or ``"gonogo"``) under any mix of its four rules.

    Args:
        family: "pdm" or "gonogo".
        dt: step length in ms (the timings are in ms).
        noise: input-noise sd added to both rings during the stimulus period.
        coherences: pdm coherences c (strengths 0.5 +- c/2), drawn uniformly.
    """

    n_inputs = N_SENSORY + len(MOTIF_RULES)
    n_outputs = N_CLASSES

    def __init__(self, family: str = "pdm", dt: float = 100.0, noise: float = 0.1,
                 coherences: tuple[float, ...] = COHERENCES):
        if family not in FAMILIES:
            raise ConfigError(f"family={family!r} is not valid; expected one of {', '.join(FAMILIES)}")
        if not (isinstance(dt, int | float) and math.isfinite(dt) and 0 < dt <= MAX_DT):
            raise ConfigError(f"dt must be in (0, {MAX_DT}] ms, got {dt!r}")
        if not (isinstance(noise, int | float) and math.isfinite(noise) and noise >= 0):
            raise ConfigError(f"noise must be a finite number >= 0, got {noise!r}")
        if not coherences or not all(0 < c <= 1 for c in coherences):
            raise ConfigError(f"coherences must be a non-empty tuple of numbers in (0, 1], got {coherences!r}")
        self.family, self.dt, self.noise, self.coherences = family, float(dt), float(noise), tuple(coherences)
        self._renderer = TaskSuite("dm1", noise=self.noise, task_input=False)  # the suite's renderer, 33 inputs

    def __repr__(self) -> str:
        return f"MotifTasks({self.family!r}, dt={self.dt:g}, noise={self.noise:g})"

    def steps(self, ms: float) -> int:
        """A duration in ms as a number of steps (rounded, at least 1)."""
        return max(1, round(ms / self.dt))

    def stimulus_steps(self, drop_ms: float = 500.0) -> slice:
        """The steps of the stimulus epoch of a test trial, its first `drop_ms` ms (the transient) left out."""
        start = self.steps(TEST_TIMING_MS["fixation"])
        drop = round(drop_ms / self.dt)
        if drop >= self.steps(TEST_TIMING_MS["stimulus"]):
            raise ConfigError(f"drop_ms={drop_ms} leaves nothing of the {TEST_TIMING_MS['stimulus']} ms stimulus")
        return slice(start + drop, start + self.steps(TEST_TIMING_MS["stimulus"]))

    def _rule_ids(self, n: int, rules, gen: torch.Generator) -> torch.Tensor:
        names = MOTIF_RULES if rules is None else (rules,) if isinstance(rules, str) else tuple(rules)
        unknown = [r for r in names if r not in MOTIF_RULES]
        if unknown or not names:
            raise ConfigError(f"rules must be names from {', '.join(MOTIF_RULES)}; got {rules!r}")
        pool = torch.tensor([MOTIF_RULES.index(r) for r in names], device=gen.device)
        return pool[torch.randint(0, len(pool), (n,), generator=gen, device=gen.device)]

    def _durations(self, n: int, rule: torch.Tensor, test: bool, gen: torch.Generator) -> torch.Tensor:
        dev = gen.device
        durations = torch.zeros(n, 5, dtype=torch.long, device=dev)
        for period, name in ((FIXATION, "fixation"), (STIMULUS, "stimulus"), (DELAY, "delay"),
                             (DECISION, "decision")):
            if test:
                durations[:, period] = self.steps(TEST_TIMING_MS[name])
            else:
                options = torch.tensor([self.steps(ms) for ms in TRAIN_TIMING_MS[name]], device=dev)
                durations[:, period] = options[torch.randint(0, len(options), (n,), generator=gen, device=dev)]
        delayed = torch.tensor([rule_has(r, "delay") for r in MOTIF_RULES], device=dev)[rule]
        durations[:, DELAY] *= delayed
        return durations

    def sample_trials(self, rule: torch.Tensor, generator: torch.Generator, test: bool = False) -> Trials:
        """One trial per entry of `rule` ((N,) indices into MOTIF_RULES); `test` uses the fixed test timings."""
        gen = _check_generator(generator)
        dev = gen.device
        rule = torch.as_tensor(rule, device=dev).long()
        n = len(rule)
        anti = torch.tensor([rule_has(r, "anti") for r in MOTIF_RULES], device=dev)[rule]
        choices = torch.tensor(CHOICES, device=dev)
        side = torch.randint(0, 2, (n,), generator=gen, device=dev)        # pdm: stronger bump; gonogo: cue
        zeros = torch.zeros(n, device=dev)
        strength_a, strength_b = torch.zeros(n, 2, device=dev), torch.zeros(n, 2, device=dev)
        noise_sd = torch.zeros(n, 2, device=dev)
        noise_sd[:] = self.noise
        show_b = torch.full((n,), -1, dtype=torch.long, device=dev)
        if self.family == "pdm":
            coh = torch.tensor(self.coherences, device=dev)[torch.randint(0, len(self.coherences), (n,),
                                                                          generator=gen, device=dev)]
            strength_a[:, 0], strength_b[:, 0] = 0.5 + coh / 2, 0.5 - coh / 2   # a: the stronger bump
            theta_a, theta_b = choices[side], choices[1 - side]
            direction = torch.where(anti, theta_b, theta_a)
            respond = torch.ones(n, dtype=torch.bool, device=dev)
            show_b[:] = STIMULUS
        else:
            strength_a[:, 0] = 1.0
            theta_a, theta_b = choices[side], zeros.long()
            direction = torch.full((n,), CHOICES[0], dtype=torch.long, device=dev)
            respond = (side == 0) != anti                                   # go cue (basic) or no-go cue (anti)
        return Trials(task=rule, durations=self._durations(n, rule, test, gen),
                      theta_a=theta_a * (2 * math.pi / N_RING), theta_b=theta_b * (2 * math.pi / N_RING),
                      strength_a=strength_a, strength_b=strength_b,
                      show_a=torch.full((n,), STIMULUS, dtype=torch.long, device=dev), show_b=show_b,
                      noise_sd=noise_sd, direction=direction.long(), seq=zeros.long(), respond=respond,
                      modality=torch.zeros(n, dtype=torch.long, device=dev),
                      match=torch.full((n,), -1, dtype=torch.long, device=dev),
                      ambiguous=torch.zeros(n, dtype=torch.bool, device=dev))

    def trials(self, n: int, generator: torch.Generator, rules=None, test: bool = False) -> Batch:
        """A trial-aligned batch of n trials, rules uniform over `rules` (a name, names, or None: all four).

        Row i holds trial i from its first step, zero-padded to the longest trial (``valid`` marks the real
        steps; with ``test=True`` every trial has the same length). ``task`` holds the rule index (into MOTIF_RULES).
        """
        _check_positive(n=n)
        gen = _check_generator(generator)
        tr = self.sample_trials(self._rule_ids(n, rules, gen), gen, test=test)
        steps = int(tr.length.max())
        index = torch.arange(n, device=gen.device)[:, None].expand(n, steps)
        time = torch.arange(steps, device=gen.device).expand(n, steps)
        sensory, targets, period = self._renderer.render(tr, index, time, gen)
        valid = period >= 0
        rule_input = torch.nn.functional.one_hot(tr.task, len(MOTIF_RULES)).float()[:, None, :] * valid[..., None]
        inputs = torch.cat([sensory, rule_input], -1)
        return Batch(inputs, targets, tr.task[:, None].expand(n, steps), period, valid, index, time, tr)

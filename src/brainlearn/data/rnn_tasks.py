"""Sequence tasks for comparing recurrent learning rules (in the style of Marschall, Cho & Savin 2020).

Every generator takes an explicit ``torch.Generator`` and returns ``(x, y, w)``: inputs (B, T, m),
targets (B, T, k) and loss weights (B, T) (0 where a step has no target). The loss each task expects is
in :data:`TASKS` (``"cross_entropy"``: y holds target probabilities; ``"mse"``: y holds values).

- :func:`add_task`: x_t ~ Bernoulli(1/2), P(y_t = 1) = 1/2 + Σ_k c_k x_{t - lag_k} (Pitis 2016); with
  :func:`add_task_floors`, the exact cross-entropy floors of a predictor that knows none, the first, ...,
  all of the lags (0.662 / 0.519 / 0.454 nats for lags 5 and 9 with c = (1/2, -1/4)).
- :func:`flip_flop`: n channels of sparse ±1 pulses; the target holds each channel's last pulse.
- :func:`delayed_nonmatch`: two stimuli separated by a delay; answer "non-match" or "match".
- :func:`sine_generation`: a constant cue selects a frequency; the target is that sine wave.
- :func:`sequential_digits`: scikit-learn's 8 x 8 digits read row by row, classified at the last row.
- :func:`copy_repeat`: write a short binary pattern out R times (Graves et al. 2014), at one level that fits T.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from brainlearn.data.copy_repeat import copy_repeat_batch
from brainlearn.errors import ConfigError


def _check(batch_size: int, T: int, what: str, min_T: int = 1) -> None:
    if batch_size < 1 or T < min_T:
        raise ConfigError(f"{what}: need batch_size >= 1 and T >= {min_T}, got batch_size={batch_size}, T={T}")


def _check_lags(lags, coefs, base) -> None:
    if len(lags) != len(coefs) or not lags or any(int(k) < 1 for k in lags):
        raise ConfigError(f"add task: need as many coefficients as lags (>= 1), got lags={lags}, coefs={coefs}")
    lo = base + sum(min(c, 0) for c in coefs)
    hi = base + sum(max(c, 0) for c in coefs)
    if lo < 0 or hi > 1:
        raise ConfigError(f"add task: P(y = 1) must stay in [0, 1], but base {base} and coefs {coefs} give "
                          f"[{lo}, {hi}]")


def add_task(batch_size: int, T: int, lags: tuple[int, ...] = (5, 9), coefs: tuple[float, ...] = (0.5, -0.25),
             base: float = 0.5, generator: torch.Generator | None = None):
    """The Add task: x (B, T, 1) ∈ {0, 1}, y (B, T, 2) = [p_t, 1 - p_t] with p_t = P(y_t = 1), w = 1.

    The inputs before t = 0 are drawn too (a burn-in of max(lags) steps), so every step has a target.
    """
    _check(batch_size, T, "add_task")
    _check_lags(lags, coefs, base)
    burn = max(lags)
    bits = (torch.rand(batch_size, T + burn, generator=generator) < 0.5).float()
    p = torch.full((batch_size, T), float(base))
    for lag, c in zip(lags, coefs):
        p = p + c * bits[:, burn - lag:burn - lag + T]
    x = bits[:, burn:, None]
    return x, torch.stack([p, 1 - p], -1), torch.ones(batch_size, T)


def _entropy(p: float) -> float:
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0)


def add_task_floors(lags: tuple[int, ...] = (5, 9), coefs: tuple[float, ...] = (0.5, -0.25),
                    base: float = 0.5) -> list[float]:
    """Exact expected cross-entropies (nats) of the best predictor that knows the first k lags, k = 0..K.

    With the first k inputs known, the best prediction is q = E[p | x_{t-lag_1..k}] and the expected
    cross-entropy is E[H(q)] (the remaining inputs average out); the lags must be distinct.
    """
    _check_lags(lags, coefs, base)
    if len(set(lags)) != len(lags):
        raise ConfigError(f"add_task_floors: lags must be distinct, got {lags}")
    out = []
    for k in range(len(lags) + 1):
        known, unknown = coefs[:k], coefs[k:]
        mean_rest = sum(c * 0.5 for c in unknown)
        total = 0.0
        for bits in itertools.product((0, 1), repeat=k):
            total += _entropy(base + mean_rest + sum(c * b for c, b in zip(known, bits)))
        out.append(total / 2 ** k)
    return out


def flip_flop(batch_size: int, T: int, n_bits: int = 3, p_pulse: float = 0.05,
              generator: torch.Generator | None = None):
    """x (B, T, n_bits) ∈ {-1, 0, 1} (pulses with probability `p_pulse` per step and channel); y (B, T, n_bits)
    is each channel's last pulse (0 before the first one); w = 1. Loss: mse."""
    _check(batch_size, T, "flip_flop")
    if n_bits < 1 or not 0 < p_pulse <= 1:
        raise ConfigError(f"flip_flop: need n_bits >= 1 and p_pulse in (0, 1], got {n_bits}, {p_pulse}")
    pulse = torch.rand(batch_size, T, n_bits, generator=generator) < p_pulse
    sign = torch.where(torch.rand(batch_size, T, n_bits, generator=generator) < 0.5, -1.0, 1.0)
    x = pulse.float() * sign
    # last pulse: index of the latest nonzero step so far (cummax over masked step indices)
    idx = torch.where(pulse, torch.arange(T)[None, :, None], -1).cummax(1).values
    held = torch.gather(torch.cat([torch.zeros(batch_size, 1, n_bits), x], 1), 1, idx + 1)
    return x, held, torch.ones(batch_size, T)


def delayed_nonmatch(batch_size: int, n_trials: int = 4, delay: int = 3, generator: torch.Generator | None = None):
    """Trials of 1 + delay + 1 + 1 steps: stimulus a ∈ {0, 1} (one-hot, 2 channels), `delay` blank steps,
    stimulus b, then a response step (channel 3 on) whose target is [1, 0] for non-match (a ≠ b), [0, 1] for
    match; w = 1 at response steps only. n_trials trials back to back: x (B, T, 3), y (B, T, 2)."""
    if batch_size < 1 or n_trials < 1 or delay < 0:
        raise ConfigError(f"delayed_nonmatch: need batch_size, n_trials >= 1 and delay >= 0, got {batch_size}, "
                          f"{n_trials}, {delay}")
    L = delay + 3
    a = torch.randint(0, 2, (batch_size, n_trials), generator=generator)
    b = torch.randint(0, 2, (batch_size, n_trials), generator=generator)
    x = torch.zeros(batch_size, n_trials, L, 3)
    x[:, :, 0, :2] = torch.nn.functional.one_hot(a, 2).float()
    x[:, :, delay + 1, :2] = torch.nn.functional.one_hot(b, 2).float()
    x[:, :, L - 1, 2] = 1.0
    y = torch.zeros(batch_size, n_trials, L, 2)
    y[:, :, L - 1] = torch.nn.functional.one_hot((a == b).long(), 2).float()
    w = torch.zeros(batch_size, n_trials, L)
    w[:, :, L - 1] = 1.0
    return x.flatten(1, 2), y.flatten(1, 2), w.flatten(1, 2)


def sine_generation(batch_size: int, T: int, periods: tuple[float, ...] = (10.0, 20.0), amplitude: float = 0.5,
                    generator: torch.Generator | None = None):
    """A constant one-hot cue (B, T, len(periods)) selects a period P; the target (B, T, 1) is
    amplitude · sin(2π t / P), generated from the cue alone (the network starts at rest); w = 1. Loss: mse."""
    _check(batch_size, T, "sine_generation")
    if not periods or any(p <= 1 for p in periods):
        raise ConfigError(f"sine_generation: periods must be > 1, got {periods}")
    k = torch.randint(0, len(periods), (batch_size,), generator=generator)
    x = torch.nn.functional.one_hot(k, len(periods)).float()[:, None, :].expand(batch_size, T, -1).clone()
    per = torch.tensor(periods)[k]
    y = amplitude * torch.sin(2 * math.pi * torch.arange(T)[None, :] / per[:, None])
    return x, y[:, :, None], torch.ones(batch_size, T)


_DIGITS: dict[str, torch.Tensor] = {}


def sequential_digits(batch_size: int, generator: torch.Generator | None = None, split: str = "train"):
    """scikit-learn's 8 x 8 digits read row by row: x (B, 8, 8) in [0, 1], y (B, 8, 10) the one-hot class
    (at every step), w = 1 at the last row only. Loss: cross_entropy."""
    if batch_size < 1 or split not in ("train", "test"):
        raise ConfigError(f"sequential_digits: need batch_size >= 1 and split train|test, got {batch_size}, {split!r}")
    if not _DIGITS:
        from brainlearn.data.images import load_images

        data = load_images("digits")
        _DIGITS.update(train_x=data.x_train[:, 0], train_y=data.y_train, test_x=data.x_test[:, 0],
                       test_y=data.y_test)
    images, labels = _DIGITS[f"{split}_x"], _DIGITS[f"{split}_y"]
    idx = torch.randint(0, len(labels), (batch_size,), generator=generator)
    x = images[idx].float()
    y = torch.nn.functional.one_hot(labels[idx], 10).float()[:, None, :].expand(batch_size, 8, 10).clone()
    w = torch.zeros(batch_size, 8)
    w[:, -1] = 1.0
    return x, y, w


def copy_repeat(batch_size: int, T: int, n: int = 3, bits: int = 4, generator: torch.Generator | None = None):
    """Copy-repeat (:func:`~brainlearn.data.copy_repeat.copy_repeat_batch`) at the one level that fits T steps:
    a pattern of `n` steps of `bits` random bits, to be written out R = (T - 3) // n - 1 times and ended with a
    flag (length (R + 1) n + 3 <= T). x (B, L, bits + 2), y (B, L, bits + 1) in {0, 1}, w = 1 at the R n + 1
    output steps. Loss: mse on the bits (the learning rules take mse or a softmax cross-entropy; the task's
    usual loss, a per-bit logistic loss, is not among them)."""
    if T < 2 * n + 3:
        raise ConfigError(f"copy_repeat: T = {T} steps cannot hold a pattern of {n} steps and one repeat "
                          f"(need T >= {2 * n + 3})")
    generator = generator if generator is not None else torch.default_generator
    x, y, mask = copy_repeat_batch(n, (T - 3) // n - 1, batch_size, generator, bits=bits)
    return x, y, mask.float().expand(batch_size, -1).clone()


@dataclass(frozen=True)
class SequenceTask:
    """A task as the rule comparison uses it: sizes, loss and ``sample(batch_size, T, generator) -> (x, y, w)``."""

    name: str
    n_in: int
    n_out: int
    loss: str
    sample: Callable


TASKS = {
    "add": SequenceTask("add", 1, 2, "cross_entropy", lambda b, T, g: add_task(b, T, generator=g)),
    "flipflop": SequenceTask("flipflop", 3, 3, "mse", lambda b, T, g: flip_flop(b, T, generator=g)),
    "dnm": SequenceTask("dnm", 3, 2, "cross_entropy",
                        lambda b, T, g: delayed_nonmatch(b, max(1, T // 6), 3, generator=g)),
    "sine": SequenceTask("sine", 2, 1, "mse", lambda b, T, g: sine_generation(b, T, generator=g)),
    "digits": SequenceTask("digits", 8, 10, "cross_entropy", lambda b, T, g: sequential_digits(b, generator=g)),
    "copyrepeat": SequenceTask("copyrepeat", 6, 5, "mse", lambda b, T, g: copy_repeat(b, T, generator=g)),
}
"""The tasks by name; T is the sequence length (delayed non-match: T // 6 trials of 6 steps; digits: 8 rows;
copy-repeat: (R + 1) 3 + 3 <= T steps)."""

"""Vectorised Mod-Cog trial generator: sample trial parameters for many trials at once, then render them.

Every trial, whatever its task, is drawn on one skeleton of five periods (steps of dt = 100 ms):

    0 fixation | 1 stimulus (first stimulus, sample) | 2 delay | 3 stimulus 2 (test) | 4 decision

A period a task does not have lasts 0 steps. A trial shows at most two bumps, A and B, each at an
angle theta with a strength per modality, each during one period. Rendering a timestep needs only the
trial's parameters and the time since the trial began, so one function makes both batch forms:
trial-aligned (one trial per row, padded) and continuous streams (back-to-back trials cut into windows).

Observation layout (33 + K): ``[fixation, ring of modality 1 (16), ring of modality 2 (16), task one-hot (K)]``.
Ring unit k prefers theta_k = 2 pi k / 16; a bump at theta with strength s gives ``s * 0.8 exp(-d^2 / 2)``,
d = circular distance / (pi / 8). Fixation is 1 until the decision period, then 0.
Targets (17 classes): 0 = fixate, 1 + k = respond toward theta_k. During the decision period the target
is ``1 + (direction + seq * tau) mod 16`` (tau = steps since the decision began) on "go" trials, 0 otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from brainlearn.data.cognitive.tasks import Task, resolve_tasks
from brainlearn.errors import ConfigError

N_RING = 16
N_CLASSES = 1 + N_RING
N_SENSORY = 1 + 2 * N_RING  # fixation + two rings = 33
PERIODS = ("fixation", "stimulus", "delay", "stimulus2", "decision")
FIXATION, STIMULUS, DELAY, STIMULUS2, DECISION = range(5)
DT_MS = 100  # one step of every trial, in ms
OMEGA_DT = 1.0  # Mod-Cog omega = 0.01 rad/ms times dt = 100 ms: one radian, or one ring position, per step
DM_INT_SHIFT = 5  # dm int tasks: omega * 500 ms fixed delay = 5 ring positions
NOISE_SD = 0.1  # Mod-Cog sigma / sqrt(dt) = 1 / sqrt(100)
DM_COHERENCES = (0.08, 0.16, 0.32, 0.64)
DLYDM_STRENGTHS = (0.3, 0.6, 1.0)


@dataclass
class Trials:
    """Parameters and metadata of N trials; every field is a tensor with leading dimension N.

    durations: (N, 5) steps per period (fixation, stimulus, delay, stimulus2, decision); theta_a/theta_b:
    bump angles (rad); strength_a/strength_b: (N, 2) bump strength per modality; show_a/show_b: period in
    which each bump is shown (-1: never); noise_sd: (N, 2) input-noise sd per modality during the stimulus
    periods; direction: ring index of the answer at the start of the decision period; seq: +1/-1/0 drift
    of the answer per step; respond: False on no-go trials (target stays 0); modality: the stimulus
    modality (reach, match) or -1 (dm); match: 1 match / 0 non-match / -1 (not a match task);
    ambiguous: dm trials whose weighted evidence tied (the answer was a coin flip, as in Mod-Cog).
    """

    task: torch.Tensor
    durations: torch.Tensor
    theta_a: torch.Tensor
    theta_b: torch.Tensor
    strength_a: torch.Tensor
    strength_b: torch.Tensor
    show_a: torch.Tensor
    show_b: torch.Tensor
    noise_sd: torch.Tensor
    direction: torch.Tensor
    seq: torch.Tensor
    respond: torch.Tensor
    modality: torch.Tensor
    match: torch.Tensor
    ambiguous: torch.Tensor

    def __len__(self) -> int:
        return len(self.task)

    def __getitem__(self, index) -> Trials:
        return Trials(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self, device) -> Trials:
        return Trials(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def cat(parts: list[Trials]) -> Trials:
        return Trials(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Trials)})

    @property
    def length(self) -> torch.Tensor:
        """(N,) trial lengths in steps."""
        return self.durations.sum(-1)

    @property
    def bounds(self) -> torch.Tensor:
        """(N, 5) step at which each period ends (cumulative durations)."""
        return self.durations.cumsum(-1)

    @property
    def decision_onset(self) -> torch.Tensor:
        """(N,) first step of the decision period."""
        return self.bounds[..., DECISION - 1]

    @property
    def delay(self) -> torch.Tensor:
        """(N,) delay-period length in steps."""
        return self.durations[..., DELAY]


@dataclass
class Batch:
    """Inputs and targets on a (B, T) grid of timesteps, with per-timestep labels and the trials behind them.

    inputs (B, T, 33 + K) float32; targets (B, T) int64 in 0..16; task (B, T) int64 suite index of the task
    at each step; period (B, T) int64 in 0..4 (see PERIODS), -1 on padding; valid (B, T) bool, False on padding
    (trial-aligned batches only); trial_index (B, T) int64 row of ``trials`` each step belongs to; time (B, T)
    int64 steps since that trial began; trials: the :class:`Trials` rendered here.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    task: torch.Tensor
    period: torch.Tensor
    valid: torch.Tensor
    trial_index: torch.Tensor
    time: torch.Tensor
    trials: Trials

    @property
    def fixation_mask(self) -> torch.Tensor:
        """(B, T) bool: steps where the fixation input is on (the MoP fixation loss covers these)."""
        return self.valid & (self.period >= 0) & (self.period < DECISION)

    @property
    def response_mask(self) -> torch.Tensor:
        """(B, T) bool: steps of the decision period (fixation input off; the response loss covers these)."""
        return self.valid & (self.period == DECISION)

    @property
    def trial_start(self) -> torch.Tensor:
        """(B, T) bool: the first step of each trial."""
        return self.valid & (self.time == 0)

    def to(self, device) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _randint(low: int, high: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """n integers uniform in [low, high), on the generator's device."""
    return torch.randint(low, high, (n,), generator=gen, device=gen.device)


def ring_angles(device=None, dtype=torch.float32) -> torch.Tensor:
    """(16,) preferred directions theta_k = 2 pi k / 16."""
    return torch.arange(N_RING, device=device, dtype=dtype) * (2 * math.pi / N_RING)


def gaussian_bump(theta: torch.Tensor) -> torch.Tensor:
    """(..., 16) ring response 0.8 exp(-d^2/2), d = circular distance between theta and theta_k over pi/8."""
    diff = torch.remainder(theta[..., None] - ring_angles(theta.device, theta.dtype), 2 * math.pi)
    d = torch.minimum(diff, 2 * math.pi - diff) / (math.pi / 8)
    return 0.8 * torch.exp(-d**2 / 2)


class TaskSuite:
    """A set of Mod-Cog tasks that generates trials of any mix of them, vectorised and seeded.

    ``TaskSuite("modcog/all")`` (82 tasks), ``"modcog/16"``, ``"modcog/base"``, one task name, or a list of
    names. ``noise`` is the input-noise sd of the dm and match tasks (Mod-Cog: 0.1); ``task_input``
    appends the K-dim task one-hot to the observation (33 + K inputs, as the reference); ``fixed_match_delay``
    reproduces Mod-Cog's match-task delay drawn once per environment: None (default) draws it per trial.
    All randomness comes from the ``torch.Generator`` passed in; tensors live on its device.
    """

    def __init__(self, tasks="modcog/all", noise: float = NOISE_SD, task_input: bool = True,
                 fixed_match_delay: int | None = None):
        self.tasks: tuple[Task, ...] = resolve_tasks(tasks)
        if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
            raise ConfigError(f"noise must be a finite number >= 0, got {noise!r}")
        if fixed_match_delay is not None and not (isinstance(fixed_match_delay, int) and 0 <= fixed_match_delay <= 50):
            raise ConfigError(f"fixed_match_delay must be None or an int in 0..50 steps, got {fixed_match_delay!r}")
        self.noise = float(noise)
        self.task_input = bool(task_input)
        self.fixed_match_delay = fixed_match_delay
        self.names = tuple(t.name for t in self.tasks)
        self._columns: dict = {}

    def __repr__(self) -> str:
        return f"TaskSuite({len(self.tasks)} tasks, noise={self.noise}, task_input={self.task_input})"

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def n_inputs(self) -> int:
        """33 + K with the task one-hot, 33 without."""
        return N_SENSORY + (len(self.tasks) if self.task_input else 0)

    n_outputs = N_CLASSES

    def index(self, name: str) -> int:
        """Suite index of a task name."""
        if name not in self.names:
            raise ConfigError(f"task {name!r} is not in this suite; its tasks: {', '.join(self.names)}")
        return self.names.index(name)

    def mean_length(self) -> float:
        """Expected trial length in steps, averaged uniformly over the suite's tasks."""
        total = 0.0
        for t in self.tasks:
            if t.family == "reach":
                total += 5 + (0 if t.reaction else 5 + (5.5 if t.integrate else 5)) + t.decision
            elif t.family == "dm":
                total += 3 + 5 + (10 if t.delayed else 0) + t.decision
            else:
                total += 13 + (5.5 if t.integrate else 6.5) + t.decision
        return total / len(self.tasks)

    def _column(self, device) -> dict[str, torch.Tensor]:
        """Task spec table as tensors indexed by suite task id (cached per device)."""
        key = str(device)
        if key not in self._columns:
            ts = self.tasks
            col = {
                "family": [("reach", "dm", "match").index(t.family) for t in ts],
                "anti": [t.anti for t in ts], "reaction": [t.reaction for t in ts],
                "integrate": [t.integrate for t in ts], "seq": [t.seq for t in ts],
                "decision": [t.decision for t in ts], "delayed": [t.delayed for t in ts],
                "weights": [t.weights for t in ts], "modalities": [t.modalities for t in ts],
                "category": [t.category for t in ts], "match_go": [t.match_go for t in ts],
            }
            self._columns[key] = {k: torch.tensor(v, device=device) for k, v in col.items()}
        return self._columns[key]

    # ---------------------------------------------------------------- sampling
    def sample_trials(self, task: torch.Tensor, generator: torch.Generator) -> Trials:
        """Draw the parameters of one trial per entry of `task` ((N,) suite task ids), vectorised per family."""
        gen = _check_generator(generator)
        dev = gen.device
        task = torch.as_tensor(task, device=dev).long()
        if task.ndim != 1 or (len(task) and (task.min() < 0 or task.max() >= len(self.tasks))):
            raise ConfigError(f"task ids must be a 1-d tensor in 0..{len(self.tasks) - 1}")
        n = len(task)
        col = {k: v[task] for k, v in self._column(dev).items()}
        zeros, ones = torch.zeros(n, device=dev), torch.ones(n, device=dev, dtype=torch.long)
        tr = Trials(task=task, durations=torch.zeros(n, 5, dtype=torch.long, device=dev), theta_a=zeros.clone(),
                    theta_b=zeros.clone(), strength_a=torch.zeros(n, 2, device=dev),
                    strength_b=torch.zeros(n, 2, device=dev), show_a=-ones, show_b=-ones.clone(),
                    noise_sd=torch.zeros(n, 2, device=dev), direction=zeros.long(), seq=col["seq"].clone(),
                    respond=torch.ones(n, dtype=torch.bool, device=dev), modality=-ones.clone(),
                    match=-ones.clone(), ambiguous=torch.zeros(n, dtype=torch.bool, device=dev))
        tr.durations[:, DECISION] = col["decision"]
        for family, fill in enumerate((self._reach, self._dm, self._match)):
            rows = (col["family"] == family).nonzero().squeeze(1)
            if len(rows):
                fill(tr, rows, {k: v[rows] for k, v in col.items()}, gen)
        return tr

    def _reach(self, tr: Trials, rows, c, gen) -> None:
        """go / anti: one bump at the answer (+ pi for anti, + omega * delay for int), in a random modality."""
        n = len(rows)
        answer = _randint(0, N_RING, n, gen)
        modality = _randint(0, 2, n, gen)
        delay = torch.where(c["integrate"] != 0, _randint(0, 12, n, gen), torch.full_like(answer, 5))
        react = c["reaction"]
        tr.durations[rows, FIXATION] = 5
        tr.durations[rows, STIMULUS] = torch.where(react, 0, 5)
        tr.durations[rows, DELAY] = torch.where(react, 0, delay)
        delay = tr.durations[rows, DELAY]
        theta = answer * (2 * math.pi / N_RING) + c["integrate"] * OMEGA_DT * delay + c["anti"] * math.pi
        tr.theta_a[rows] = torch.remainder(theta, 2 * math.pi)
        tr.strength_a[rows] = torch.nn.functional.one_hot(modality, 2).float()
        tr.show_a[rows] = torch.where(react, DECISION, STIMULUS)
        tr.direction[rows] = answer
        tr.modality[rows] = modality

    def _dm(self, tr: Trials, rows, c, gen) -> None:
        """dm: bumps at two distinct directions; respond toward the one with more weighted evidence."""
        n, dev = len(rows), gen.device
        i1 = _randint(0, N_RING, n, gen)
        i2 = (i1 + _randint(1, N_RING, n, gen)) % N_RING
        delayed = c["delayed"]
        # Undelayed: strengths 0.5 +- coh/2 per modality, coh from DM_COHERENCES with a random sign.
        coh = torch.tensor(DM_COHERENCES, device=dev)[_randint(0, 4, 2 * n, gen)].view(n, 2)
        coh = coh * (2 * _randint(0, 2, 2 * n, gen).view(n, 2) - 1)
        s1, s2 = 0.5 + coh / 2, 0.5 - coh / 2
        # Delayed: two different strengths from DLYDM_STRENGTHS per modality.
        levels = torch.tensor(DLYDM_STRENGTHS, device=dev)
        a = _randint(0, 3, 2 * n, gen).view(n, 2)
        b = (a + _randint(1, 3, 2 * n, gen).view(n, 2)) % 3
        s1 = torch.where(delayed[:, None], levels[a], s1) * c["modalities"]
        s2 = torch.where(delayed[:, None], levels[b], s2) * c["modalities"]
        e1, e2 = (c["weights"] * s1).sum(1), (c["weights"] * s2).sum(1)
        tie = (e1 - e2).abs() < 1e-6
        first = torch.where(tie, _randint(0, 2, n, gen).bool(), e1 > e2)
        answer = torch.where(first, i1, i2)
        tr.durations[rows, FIXATION] = _randint(2, 5, n, gen)  # floor(U(200, 500) ms / dt)
        tr.durations[rows, STIMULUS] = 5
        tr.durations[rows, DELAY] = torch.where(delayed, 5, 0)
        tr.durations[rows, STIMULUS2] = torch.where(delayed, 5, 0)
        tr.theta_a[rows] = i1 * (2 * math.pi / N_RING)
        tr.theta_b[rows] = i2 * (2 * math.pi / N_RING)
        tr.strength_a[rows], tr.strength_b[rows] = s1, s2
        tr.show_a[rows] = STIMULUS
        tr.show_b[rows] = torch.where(delayed, STIMULUS2, STIMULUS)
        tr.noise_sd[rows] = self.noise  # Mod-Cog adds the noise to every input unit (fixation kept binary)
        tr.direction[rows] = (answer + c["integrate"] * DM_INT_SHIFT) % N_RING
        tr.ambiguous[rows] = tie

    def _match(self, tr: Trials, rows, c, gen) -> None:
        """dms / dnms / dmc / dnmc: sample, delay, test in one modality; go to the test on (non-)match."""
        n = len(rows)
        modality = _randint(0, 2, n, gen)
        sample = _randint(0, N_RING, n, gen)
        match = _randint(0, 2, n, gen)
        half = N_RING // 2
        other = _randint(0, half, n, gen)
        category = sample // half
        test_category = torch.where(match.bool(), category, 1 - category)
        test = torch.where(c["category"], other + half * test_category,
                           torch.where(match.bool(), sample, (sample + half) % N_RING))
        if self.fixed_match_delay is None:
            delay = _randint(2, 12, n, gen)  # floor(U(200, 1200) ms / dt)
        else:
            delay = torch.full_like(sample, self.fixed_match_delay)
        delay = torch.where(c["integrate"] != 0, _randint(0, 12, n, gen), delay)
        tr.durations[rows, FIXATION] = 3
        tr.durations[rows, STIMULUS] = 5
        tr.durations[rows, DELAY] = delay
        tr.durations[rows, STIMULUS2] = 5
        onehot = torch.nn.functional.one_hot(modality, 2).float()
        tr.theta_a[rows] = sample * (2 * math.pi / N_RING)
        tr.theta_b[rows] = test * (2 * math.pi / N_RING)
        tr.strength_a[rows], tr.strength_b[rows] = onehot, onehot
        tr.show_a[rows], tr.show_b[rows] = STIMULUS, STIMULUS2
        tr.noise_sd[rows] = onehot * self.noise
        tr.direction[rows] = (test + c["integrate"] * delay) % N_RING
        tr.respond[rows] = match.bool() == c["match_go"]
        tr.modality[rows] = modality
        tr.match[rows] = match

    # ---------------------------------------------------------------- rendering
    def render(self, trials: Trials, index: torch.Tensor, time: torch.Tensor, generator: torch.Generator):
        """Inputs, targets and period labels at steps `time` of trials `index` (same shape S).

        Returns inputs (S..., 33 + K), targets (S...), period (S...; -1 past the trial's end). Steps past
        the end render as all-zero input (no task one-hot) and target 0.
        """
        gen = _check_generator(generator)
        bounds = trials.bounds[index]  # (S, 5)
        period = (bounds <= time[..., None]).sum(-1)  # 5 past the end
        inside = period < 5
        inputs = torch.zeros(*index.shape, self.n_inputs, device=index.device)
        inputs[..., 0] = (period < DECISION).float()
        rings = inputs[..., 1:N_SENSORY].unflatten(-1, (2, N_RING))  # a view: writes land in `inputs`
        for theta, strength, show in ((trials.theta_a, trials.strength_a, trials.show_a),
                                      (trials.theta_b, trials.strength_b, trials.show_b)):
            pattern = strength[:, :, None] * gaussian_bump(theta)[:, None, :]  # (N, 2, 16) per trial, then gather
            on = period == show[index]
            rings[on] += pattern[index[on]]
        noisy = ((period == STIMULUS) | (period == STIMULUS2)) & (trials.noise_sd[index] > 0).any(-1)
        if bool(noisy.any()):  # draw noise only where it is added
            sd = trials.noise_sd[index[noisy]]
            rings[noisy] += torch.randn(len(sd), 2, N_RING, generator=gen, device=gen.device) * sd[..., None]
        if self.task_input:
            flat = inputs.view(-1, self.n_inputs)
            rows = inside.flatten().nonzero().squeeze(1)
            flat[rows, N_SENSORY + trials.task[index].flatten()[rows]] = 1.0
        tau = time - bounds[..., DECISION - 1]
        goal = 1 + torch.remainder(trials.direction[index] + trials.seq[index] * tau, N_RING)
        targets = torch.where((period == DECISION) & trials.respond[index], goal, 0)
        return inputs, targets, torch.where(inside, period, -1)

    # ---------------------------------------------------------------- batches
    def _task_ids(self, n: int, tasks, gen: torch.Generator) -> torch.Tensor:
        if tasks is None:
            return torch.randint(0, len(self.tasks), (n,), generator=gen, device=gen.device)
        if isinstance(tasks, str):
            return torch.full((n,), self.index(tasks), device=gen.device)
        ids = torch.as_tensor(tasks, device=gen.device).long()
        if ids.shape != (n,):
            raise ConfigError(f"tasks: expected None, a task name or {n} task ids, got shape {tuple(ids.shape)}")
        return ids

    def trials(self, n: int, generator: torch.Generator, tasks=None) -> Batch:
        """A trial-aligned batch: n trials (tasks uniform over the suite, or `tasks`: a name or (n,) ids).

        Row i holds trial i from its first step, zero-padded to the longest trial; ``valid`` marks real steps.
        """
        _check_positive(n=n)
        gen = _check_generator(generator)
        tr = self.sample_trials(self._task_ids(n, tasks, gen), gen)
        steps = int(tr.length.max())
        index = torch.arange(n, device=gen.device)[:, None].expand(n, steps)
        time = torch.arange(steps, device=gen.device).expand(n, steps)
        inputs, targets, period = self.render(tr, index, time, gen)
        task = tr.task[:, None].expand(n, steps)
        return Batch(inputs, targets, task, period, period >= 0, index, time, tr)

    def stream(self, batch_size: int, seq_len: int, generator: torch.Generator, tasks=None,
               allow_repeats: bool = False) -> TaskStream:
        """A :class:`TaskStream`: `batch_size` endless streams of back-to-back trials cut into `seq_len` windows."""
        return TaskStream(self, batch_size, seq_len, generator, tasks, allow_repeats)

    def oracle(self, batch: Batch) -> torch.Tensor:
        """(B, T) the actions of a policy that reads the trial metadata: fixate, then follow the answer.

        Written from the metadata alone (not from `render`): act 0 before the decision onset and on no-go
        trials; on go trials act ``1 + (direction + seq * (t - onset)) mod 16``.
        """
        tr = batch.trials[batch.trial_index]
        elapsed = batch.time - tr.decision_onset
        go = (elapsed >= 0) & (batch.time < tr.length) & tr.respond & batch.valid
        return torch.where(go, 1 + (tr.direction + tr.seq * elapsed) % N_RING, 0)


class TaskStream:
    """Continuous streams of back-to-back trials, one per row, cut into windows of `seq_len` steps.

    Like neurogym's ``Dataset`` over ``ScheduleEnvs(..., RandomSchedule)`` (the reference's format): each row
    is an endless sequence of trials; a window may start and end mid-trial, and the next window continues
    where the last one stopped. Each trial's task is drawn uniformly from the suite (or from `tasks`: a name
    or a list of names) among those other than the previous trial's task, as neurogym's ``RandomSchedule``
    does; ``allow_repeats=True`` draws it uniformly from all of them. Every window is a :class:`Batch`
    (B, T) with per-step task ids, periods and masks; ``valid`` is all True.
    """

    def __init__(self, suite: TaskSuite, batch_size: int, seq_len: int, generator: torch.Generator, tasks=None,
                 allow_repeats: bool = False):
        _check_positive(batch_size=batch_size, seq_len=seq_len)
        self.suite, self.batch_size, self.seq_len = suite, batch_size, seq_len
        self.generator = gen = _check_generator(generator)
        names = suite.names if tasks is None else [tasks] if isinstance(tasks, str) else list(tasks)
        self._pool = torch.tensor([suite.index(t) for t in names], device=gen.device)
        self._position = torch.full((len(suite),), -1, dtype=torch.long, device=gen.device)
        self._position[self._pool] = torch.arange(len(self._pool), device=gen.device)
        self.allow_repeats = bool(allow_repeats) or len(self._pool) == 1
        self._last = torch.randint(0, len(self._pool), (batch_size,), generator=gen, device=gen.device)
        self._carry: Trials | None = None  # the trial in progress at the end of the last window, per row
        self._offset = torch.zeros(batch_size, dtype=torch.long, device=gen.device)
        self._per_round = max(2, math.ceil(1.3 * seq_len / suite.mean_length()) + 1)

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        return self.next()

    def _draw(self, k: int) -> Trials:
        """k new trials per row, (B * k) laid out row-major, continuing each row's task sequence."""
        gen, b, p = self.generator, self.batch_size, len(self._pool)
        if self.allow_repeats:
            pos = torch.randint(0, p, (b, k), generator=gen, device=gen.device)
        else:  # a uniform step to one of the p - 1 other tasks, chained along the row
            steps = torch.randint(1, p, (b, k), generator=gen, device=gen.device)
            pos = (self._last[:, None] + steps.cumsum(1)) % p
        self._last = pos[:, -1]
        return self.suite.sample_trials(self._pool[pos.flatten()], gen)

    def next(self) -> Batch:
        """The next (B, T) window."""
        b, t_len, gen = self.batch_size, self.seq_len, self.generator
        dev = gen.device
        parts = [] if self._carry is None else [self._carry]
        lengths = [] if self._carry is None else [self._carry.length - self._offset]
        covered = sum(lengths) if lengths else torch.zeros(b, dtype=torch.long, device=dev)
        while bool((covered <= t_len).any()):  # need strictly more than T so that a trial carries over
            new = self._draw(self._per_round)
            parts.append(new)
            step_len = new.length.view(b, self._per_round)
            lengths.extend(step_len.unbind(1))
            covered = covered + step_len.sum(1)
        # Row-major table of every trial touched: (B, J) trials per row.
        per_row = [p.length.numel() // b for p in parts]
        table = Trials.cat([p[torch.arange(p.length.numel(), device=dev).view(b, k).flatten()]
                            for p, k in zip(parts, per_row)])
        order = torch.cat([torch.arange(b * k, device=dev).view(b, k) + sum(b * kk for kk in per_row[:i])
                           for i, k in enumerate(per_row)], 1)  # (B, J) row of `table` for trial j of row b
        ends = torch.cumsum(torch.stack(lengths, 1), 1)  # (B, J) step (in this window) at which each trial ends
        starts = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=dev), ends[:, :-1]], 1)
        steps = torch.arange(t_len, device=dev).expand(b, t_len)
        j = torch.searchsorted(ends, steps.contiguous(), right=True)  # (B, T) trial slot of each step
        index = order.gather(1, j)
        first = torch.zeros_like(starts)
        if self._carry is not None:
            first[:, 0] = self._offset  # the carried trial began before this window
        time = steps - starts.gather(1, j) + first.gather(1, j)
        inputs, targets, period = self.suite.render(table, index, time, gen)
        # Carry the trial running at step T into the next window.
        j_next = torch.searchsorted(ends, torch.full((b, 1), t_len, device=dev), right=True)
        self._carry = table[order.gather(1, j_next).squeeze(1)]
        self._last = self._position[self._carry.task]  # later draws were not used: continue from the carry
        self._offset = (t_len - starts.gather(1, j_next) + first.gather(1, j_next)).squeeze(1)
        used = torch.unique(index)
        remap = torch.full((len(table),), -1, dtype=torch.long, device=dev)
        remap[used] = torch.arange(len(used), device=dev)
        return Batch(inputs, targets, table.task[index], period, torch.ones_like(period, dtype=torch.bool),
                     remap[index], time, table[used])


def _check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator: expected a torch.Generator (e.g. brainlearn.runtime.make_generator(seed)), "
                          f"got {type(generator).__name__}")
    return generator


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")

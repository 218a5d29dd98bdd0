"""Continual-learning replay on class-incremental split benchmarks, as plugins on one training loop.

A *split* benchmark cuts a classification dataset into tasks of a few classes each ({0, 1}, {2, 3}, ... for
split digits / MNIST / Fashion-MNIST); tasks arrive one after the other, and after the last the solver must
tell all the classes apart (class-incremental: one output head, no task label at test time). The solver is
an MLP ``features`` (input -> hidden, ReLU) + ``head`` (hidden -> classes), trained on each minibatch of the
current task with cross-entropy over the classes seen so far, plus the loss of a replayed minibatch that a
*plugin* supplies (equal weights), in the style of Avalanche's strategy plugins:

Each class takes its config (:class:`SolverConfig`, :class:`ReplayVAEConfig`, :class:`ExactReplayConfig`,
:class:`GenerativeReplayConfig`, :class:`ContinualLearnerConfig`); the data-dependent sizes (input width,
classes) are arguments.

- :class:`ExactReplay`: a reservoir memory (:class:`brainlearn.replay.ReservoirBuffer`) of M past examples
  with their labels; every minibatch is half current data, half memory.
- :class:`GenerativeReplay` (Shin et al. 2017; van de Ven et al. 2020): a VAE generator (:class:`ReplayVAE`)
  is trained on each task's data plus samples of the previous generator (for as many epochs as the solver);
  the solver replays samples of the previous generator with the previous solver's soft targets over the
  classes seen so far (distillation, temperature T).
- Feature replay (``GenerativeReplayConfig(level="features")``; "brain-inspired" replay, van de Ven et al.
  2020): the same, but the generator models the solver's hidden features, ``features`` is frozen after the
  first task, and the replayed features train only the ``head``.

With no plugin the loop is naive fine-tuning. :func:`accuracy_matrix`-style results come from
:meth:`ContinualLearner.fit`: R[i, j] is the accuracy on task j's test classes after training task i.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.replay import ReservoirBuffer
from brainlearn.runtime.config import Config, param, require


@dataclass
class TaskSplit:
    """One task of a split benchmark: its classes and its train / test data (x flat float, y int64)."""

    classes: tuple[int, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def split_tasks(x_train, y_train, x_test, y_test, classes_per_task: int = 2) -> list[TaskSplit]:
    """Cut a dataset (x (N, D) float, y (N,) int64 in 0..C-1) into tasks of ``classes_per_task`` classes, in
    class order."""
    if x_train.ndim != 2 or x_test.ndim != 2:
        raise ShapeError(f"split_tasks: expected flat inputs (N, D), got {tuple(x_train.shape)}, {tuple(x_test.shape)}")
    n_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    if classes_per_task < 1 or n_classes % classes_per_task:
        raise ConfigError(f"classes_per_task={classes_per_task} must divide the {n_classes} classes")
    tasks = []
    for start in range(0, n_classes, classes_per_task):
        cls = tuple(range(start, start + classes_per_task))
        tr, te = torch.isin(y_train, torch.tensor(cls)), torch.isin(y_test, torch.tensor(cls))
        tasks.append(TaskSplit(cls, x_train[tr], y_train[tr], x_test[te], y_test[te]))
    return tasks


@dataclass(frozen=True)
class SolverConfig(Config):
    """The solver's width (its input and output sizes come from the data)."""

    n_hidden: int = param(128, ge=1, help="solver hidden units")


class Solver(nn.Module):
    """``features``: Linear(n_in, n_hidden) + ReLU; ``head``: Linear(n_hidden, n_out) (one logit per class)."""

    def __init__(self, config: SolverConfig, n_in: int, n_out: int):
        super().__init__()
        self.config = config
        self.features = nn.Sequential(nn.Linear(n_in, config.n_hidden), nn.ReLU())
        self.head = nn.Linear(config.n_hidden, n_out)

    def forward(self, x):
        return self.head(self.features(x))


@dataclass(frozen=True)
class ReplayVAEConfig(Config):
    """The replay generator's sizes and likelihood."""

    n_hidden: int = param(100, ge=1, help="generator hidden units")
    n_latent: int = param(8, ge=1, help="generator latent size")
    bernoulli: bool = param(True, help="Bernoulli likelihood (inputs in [0, 1]); False: unit Gaussian (features)")


class ReplayVAE(nn.Module):
    """The replay generator, a fully connected VAE: n_in -> n_hidden -> (mu, log var) of z -> n_hidden -> n_in.

    ``bernoulli`` outputs are sigmoid means with a binary cross-entropy likelihood (pixels in [0, 1]);
    otherwise linear means with a unit-variance Gaussian (squared error), for features.
    """

    def __init__(self, config: ReplayVAEConfig, n_in: int):
        super().__init__()
        self.config = config
        hidden, z = config.n_hidden, config.n_latent
        self.z, self.bernoulli = z, config.bernoulli
        self.enc = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, hidden), nn.ReLU(), nn.Linear(hidden, n_in))

    def decode(self, z):
        out = self.dec(z)
        return torch.sigmoid(out) if self.bernoulli else out

    def loss(self, x, generator: torch.Generator) -> torch.Tensor:
        """Negative ELBO per example, averaged over the batch."""
        mu, logvar = self.enc(x).chunk(2, dim=1)
        eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps
        out = self.dec(z)
        if self.bernoulli:
            rec = F.binary_cross_entropy_with_logits(out, x.clamp(0, 1), reduction="sum")
        else:
            rec = 0.5 * ((out - x) ** 2).sum()
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
        return (rec + kl) / len(x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.z, generator=generator, device=generator.device).to(device)
        return self.decode(z)


def _masked(logits: torch.Tensor, seen: int) -> torch.Tensor:
    return logits[:, :seen]


def distillation(logits: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft-target cross-entropy T^2 * H(softmax(teacher / T), softmax(logits / T)), averaged over the batch
    (Hinton et al. 2015).

    ``teacher`` may have fewer classes than ``logits`` (the classes the previous solver knew): the classes it
    lacks get target probability 0, so replayed items also push the new classes' logits down, which a
    class-incremental learner needs.
    """
    t = F.softmax(teacher / temperature, dim=1)
    log_p = F.log_softmax(logits / temperature, dim=1)[:, :t.shape[1]]
    return -(t * log_p).sum(1).mean() * temperature ** 2


class Plugin:
    """A replay strategy's hooks on :class:`ContinualLearner` (all optional)."""

    def before_task(self, learner: ContinualLearner, t: int, task: TaskSplit) -> None: ...

    def replay_loss(self, learner: ContinualLearner, n: int) -> torch.Tensor | None:
        """The loss of a replayed minibatch of ``n`` items, or None (nothing to replay yet)."""
        return None

    def after_task(self, learner: ContinualLearner, t: int, task: TaskSplit) -> None: ...


@dataclass(frozen=True)
class ExactReplayConfig(Config):
    """Exact replay's memory."""

    memory: int = param(200, ge=1, help="reservoir capacity (examples kept over all tasks)")


class ExactReplay(Plugin):
    """Replay of stored examples: a reservoir memory of ``memory`` items of all the tasks seen (its keep /
    replace decisions drawn from `seed`)."""

    def __init__(self, config: ExactReplayConfig, *, device="cpu", seed: int = 0):
        self.config = config
        self.buffer = ReservoirBuffer(config.memory, device, seed=seed)

    def replay_loss(self, learner, n):
        if len(self.buffer) == 0:
            return None
        batch, _ = self.buffer.sample(min(n, len(self.buffer)), learner.generator)
        return F.cross_entropy(_masked(learner.solver(batch["x"]), learner.seen), batch["y"])

    def after_task(self, learner, t, task):
        order = torch.randperm(len(task.y_train), generator=learner.generator).to(task.y_train.device)
        self.buffer.extend({"x": task.x_train[order], "y": task.y_train[order]})


@dataclass(frozen=True)
class GenerativeReplayConfig(Config):
    """Generative (``level="input"``) or feature (``level="features"``) replay: the generator and its training."""

    vae: ReplayVAEConfig = ReplayVAEConfig()
    level: Literal["input", "features"] = param("input", help="replay generated inputs or hidden features")
    epochs: int | None = param(None, ge=1, help="the generator's epochs per task (none: the learner's epochs)")
    lr: float = param(1e-3, gt=0, help="the generator's Adam learning rate")
    temperature: float = param(2.0, gt=0, help="distillation temperature")

    def __post_init__(self):
        super().__post_init__()
        require(self.level == "input" or not self.vae.bernoulli,
                "level='features' needs vae.bernoulli=False (hidden features are not in [0, 1])")


class GenerativeReplay(Plugin):
    """Replay of generated inputs (``level="input"``) or hidden features (``level="features"``) with the
    previous solver's soft targets. A new :class:`ReplayVAE` (``config.vae``) is trained after each task, for
    ``config.epochs`` (by default the learner's), on that task's data (or features) plus as many samples of
    the previous VAE."""

    def __init__(self, config: GenerativeReplayConfig):
        self.config = config
        self.lr, self.temperature, self.level = config.lr, config.temperature, config.level
        self.vae: ReplayVAE | None = None
        self.teacher: Solver | None = None
        self.teacher_seen = 0

    def replay_loss(self, learner, n):
        if self.vae is None:
            return None
        x = self.vae.sample(n, learner.generator)
        with torch.no_grad():
            target = self.teacher(x) if self.level == "input" else self.teacher.head(x)
        out = learner.solver(x) if self.level == "input" else learner.solver.head(x)
        return distillation(out[:, :learner.seen], target[:, :self.teacher_seen], self.temperature)

    def _data(self, learner, task):
        if self.level == "input":
            return task.x_train
        with torch.no_grad():
            return learner.solver.features(task.x_train)

    def after_task(self, learner, t, task):
        if self.level == "features" and t == 0:
            for p in learner.solver.features.parameters():     # the "pre-trained", fixed lower layers
                p.requires_grad_(False)
        data = self._data(learner, task)
        vae = learner.place(ReplayVAE(self.config.vae, data.shape[1]))
        opt = torch.optim.Adam(vae.parameters(), lr=self.lr)
        for _ in range(self.config.epochs or learner.epochs):
            for idx in torch.randperm(len(data), generator=learner.generator).split(learner.batch_size):
                x = data[idx.to(data.device)]
                if self.vae is not None:
                    x = torch.cat([x, self.vae.sample(len(x), learner.generator)])
                loss = vae.loss(x, learner.generator)
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.vae = vae.eval()
        self.teacher = copy.deepcopy(learner.solver).eval()
        self.teacher_seen = learner.seen


@dataclass(frozen=True)
class ContinualLearnerConfig(Config):
    """The training loop's settings (the generators of generative replay train for the same epochs)."""

    epochs: int = param(60, ge=1, help="epochs per task (solver and generator)")
    batch_size: int = param(32, ge=1, help="current-task examples per minibatch (as many replayed)")
    lr: float = param(1e-3, gt=0, help="the solver's Adam learning rate")


class ContinualLearner:
    """The training loop: for each task, ``epochs`` passes of minibatches of the current task, each with the
    replay loss of every plugin added (weight 1/2 each for current and replayed data when replaying).

    Every draw (minibatch order, replayed items, generator noise) comes from `generator`; ``place`` puts every
    model built (the solver is built by the caller) on the run's device.
    """

    def __init__(self, config: ContinualLearnerConfig, solver: Solver, plugins: list[Plugin], *,
                 generator: torch.Generator | None = None, place=lambda m: m):
        self.config = config
        self.solver, self.plugins = solver, list(plugins)
        self.epochs, self.batch_size, self.lr = config.epochs, config.batch_size, config.lr
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.place = place
        self.seen = 0

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        if len(y) == 0:
            return float("nan")
        return float((self.solver(x).argmax(1) == y).double().mean())

    def train_task(self, t: int, task: TaskSplit) -> None:
        self.seen = max(self.seen, max(task.classes) + 1)
        for plugin in self.plugins:
            plugin.before_task(self, t, task)
        opt = torch.optim.Adam([p for p in self.solver.parameters() if p.requires_grad], lr=self.lr)
        n = len(task.y_train)
        for _ in range(self.epochs):
            for idx in torch.randperm(n, generator=self.generator).split(self.batch_size):
                idx = idx.to(task.y_train.device)
                loss = F.cross_entropy(_masked(self.solver(task.x_train[idx]), self.seen), task.y_train[idx])
                replayed = [r for p in self.plugins if (r := p.replay_loss(self, len(idx))) is not None]
                if replayed:
                    loss = 0.5 * loss + 0.5 * sum(replayed) / len(replayed)
                opt.zero_grad()
                loss.backward()
                opt.step()
        for plugin in self.plugins:
            plugin.after_task(self, t, task)

    def fit(self, tasks: list[TaskSplit]) -> dict:
        """Train on the tasks in order; return the accuracy matrix R (tasks x tasks, list of lists), the final
        accuracy on all test data, the average final task accuracy and the average forgetting."""
        R = []
        for t, task in enumerate(tasks):
            self.train_task(t, task)
            R.append([self.accuracy(s.x_test, s.y_test) for s in tasks])
        return summarise(R, tasks, self)


def summarise(R: list[list[float]], tasks: list[TaskSplit], learner: ContinualLearner) -> dict:
    T = len(tasks)
    x = torch.cat([s.x_test for s in tasks])
    y = torch.cat([s.y_test for s in tasks])
    forgetting = [max(R[i][j] for i in range(j, T - 1)) - R[T - 1][j] for j in range(T - 1)]
    return {"matrix": R, "final_acc": learner.accuracy(x, y), "average_acc": sum(R[T - 1]) / T,
            "forgetting": sum(forgetting) / max(len(forgetting), 1)}

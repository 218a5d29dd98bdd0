"""The 82 Mod-Cog tasks (Khona, Chandra et al. 2022) as data: one :class:`Task` spec per task, and named suites.

Three families share one trial skeleton (see :mod:`brainlearn.data.cognitive.core`):

- ``reach`` (go, anti and their rt / dly forms): one bump in one modality; respond toward it (go) or
  away from it (anti). ``rt``: the stimulus appears at the go cue, no memory needed.
- ``dm`` (decision making): two bumps of different strength; respond toward the stronger one, judged
  in modality 1, 2 (ctx: the other modality is a distractor) or summed over both (multi). ``dly``: the
  two bumps come one after the other, separated by a delay.
- ``match`` (dms, dnms, dmc, dnmc): a sample, a delay, a test; respond toward the test when it matches
  (dms, dmc) or does not match (dnms, dnmc) the sample's direction (s) or category (c), else keep fixating.

Mod-Cog's two extensions:

- ``int`` r / l: the answer is rotated by an amount proportional to the delay. Reach family: the
  *stimulus* is shown rotated by ``omega * delay`` (1 rad per 100 ms step) and the answer is the
  unrotated direction; dm and match families: the *target* index moves by one ring position per 100 ms
  of delay (``omega * delay`` positions, 5 for the fixed 500 ms dm delay). ``r`` = +, ``l`` = -.
- ``seq`` r / l: the target moves one ring position per step during the response (r = +1, l = -1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from brainlearn.errors import ConfigError

FAMILIES = ("reach", "dm", "match")


@dataclass(frozen=True)
class Task:
    """One Mod-Cog task: its family and the switches that make it differ from its family's other tasks.

    Timing (steps of dt = 100 ms) follows Mod-Cog: reach 5 fixation + 5 stimulus + delay + decision,
    dm U{2,3,4} fixation + 5 stimulus [+ 5 delay + 5 stimulus 2] + decision, match 3 fixation + 5 sample +
    delay + 5 test + decision. ``decision`` is the response length in steps.
    """

    name: str
    family: str
    decision: int
    anti: bool = False  # reach: respond opposite the stimulus
    reaction: bool = False  # reach: stimulus shown only during the response period (rt)
    integrate: int = 0  # int r (+1) / l (-1) / none (0)
    seq: int = 0  # seq r (+1) / l (-1) / none (0): target moves one ring position per step
    delayed: bool = False  # dm: two stimuli separated by a delay (dlydm) instead of shown together
    weights: tuple[int, int] = (1, 1)  # dm: weight of each modality in the evidence
    modalities: tuple[bool, bool] = (True, True)  # dm: which modalities carry stimuli
    category: bool = False  # match: compare categories (half rings) instead of directions
    match_go: bool = True  # match: respond on match (dms, dmc) or on non-match (dnms, dnmc)

    @property
    def base(self) -> str:
        """The base task this one extends ("dlygointr" -> "dlygo")."""
        for suffix in ("intr", "intl", "seqr", "seql"):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name

    @property
    def has_delay(self) -> bool:
        return self.family == "match" or (self.family == "reach" and not self.reaction) or self.delayed

    def describe(self) -> dict[str, str]:
        """One row of the task table: periods, inputs, correct response, what makes it hard."""
        turn = {1: "+", -1: "-"}
        dec = f"decision {self.decision}"
        if self.family == "reach":
            delay = "U{0..11}" if self.integrate else "5"
            periods = f"fix 5, {dec} (stim on)" if self.reaction else f"fix 5, stim 5, delay {delay}, {dec}"
            inputs = "1 bump (strength 1) in a random modality"
            if self.integrate:
                inputs += f", rotated by {turn[self.integrate]}1 rad per delay step"
            resp = ("opposite the stimulus" if self.anti else "toward the stimulus")
            hard = ["no memory" if self.reaction else "memory over the delay"]
            if self.anti:
                hard.append("map to the opposite side")
        elif self.family == "dm":
            fix = "fix U{2,3,4}"
            periods = (f"{fix}, stim1 5, delay 5, stim2 5, {dec}" if self.delayed else f"{fix}, stim 5, {dec}")
            mods = [m + 1 for m in range(2) if self.modalities[m]]
            inputs = "2 bumps " + ("in sequence" if self.delayed else "together") + f" in modality {mods}, noise 0.1"
            judged = [m + 1 for m in range(2) if self.weights[m] and self.modalities[m]]
            resp = f"toward the stronger bump (modality {'+'.join(map(str, judged))})"
            hard = ["compare strengths" + (" across a delay" if self.delayed else "")]
            if len(mods) == 2 and len(judged) == 1:
                hard.append("ignore the other modality")
            if len(judged) == 2:
                hard.append("sum two modalities (1/6-1/8 of trials tie)")
        else:
            delay = "U{0..11}" if self.integrate else "U{2..11}"
            periods = f"fix 3, sample 5, delay {delay}, test 5, {dec}"
            inputs = "sample and test bumps in a random modality, noise 0.1"
            rule = "category (half ring)" if self.category else "direction"
            go = "match" if self.match_go else "non-match"
            resp = f"toward the test on a {go} of {rule}, else fixate"
            hard = ["memory of the sample", "go / no-go"]
        if self.integrate:
            if self.family == "reach":
                resp += f" turned back by {turn[-self.integrate]}1 rad per delay step"
            else:
                resp += f", shifted {turn[self.integrate]}1 position per delay step"
            hard.append("rotate with elapsed time")
        if self.seq:
            resp += f", moving {turn[self.seq]}1 position per step"
            hard.append("produce a sequence")
        return {"task": self.name, "family": self.family, "periods": periods, "inputs": inputs,
                "response": resp, "hard": "; ".join(hard)}


def _reach(name: str, anti: bool, reaction: bool, integrate: int = 0, seq: int = 0) -> Task:
    # Mod-Cog gives non-rt seq tasks a 1000 ms response; the rt seq tasks keep 500 ms.
    decision = 10 if seq and not reaction else 5
    return Task(name, "reach", decision, anti=anti, reaction=reaction, integrate=integrate, seq=seq)


def _dm(name: str, delayed: bool, weights: tuple[int, int], modalities: tuple[bool, bool], integrate: int = 0,
        seq: int = 0) -> Task:
    return Task(name, "dm", 10 if seq else 2, delayed=delayed, weights=weights, modalities=modalities,
                integrate=integrate, seq=seq)


def _match(name: str, category: bool, match_go: bool, integrate: int = 0, seq: int = 0) -> Task:
    return Task(name, "match", 10 if seq else 9, category=category, match_go=match_go, integrate=integrate, seq=seq)


def _base_tasks() -> dict[str, dict[str, Any]]:
    """Constructor arguments of the 20 base tasks (Yang et al. 2019 as written in Mod-Cog)."""
    base: dict[str, dict[str, Any]] = {}
    for anti in (False, True):
        word = "anti" if anti else "go"
        base[word] = dict(family="reach", anti=anti, reaction=False)
        base["rt" + word] = dict(family="reach", anti=anti, reaction=True)
        base["dly" + word] = dict(family="reach", anti=anti, reaction=False)  # Mod-Cog: identical to go / anti
    dm = {"dm1": ((1, 1), (True, False)), "dm2": ((1, 1), (False, True)), "ctxdm1": ((1, 0), (True, True)),
          "ctxdm2": ((0, 1), (True, True)), "multidm": ((1, 1), (True, True))}
    for name, (weights, modalities) in dm.items():
        base[name] = dict(family="dm", delayed=False, weights=weights, modalities=modalities)
    for name, (weights, modalities) in dm.items():
        dly = name.replace("dm", "dlydm", 1) if name.startswith("ctx") or name.startswith("multi") else "dly" + name
        base[dly] = dict(family="dm", delayed=True, weights=weights, modalities=modalities)
    match = (("dms", False, True), ("dnms", False, False), ("dmc", True, True), ("dnmc", True, False))
    for name, category, go in match:
        base[name] = dict(family="match", category=category, match_go=go)
    return base


def _make(name: str, spec: dict[str, Any], integrate: int = 0, seq: int = 0) -> Task:
    spec = dict(spec)
    family = spec.pop("family")
    builders: dict[str, Callable[..., Task]] = {"reach": _reach, "dm": _dm, "match": _match}
    return builders[family](name, integrate=integrate, seq=seq, **spec)


BASE_NAMES = ("go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti", "dm1", "dm2", "ctxdm1", "ctxdm2", "multidm",
              "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm", "dms", "dnms", "dmc", "dnmc")
# The int extension applies to tasks with a delay; the reference's 82-task list omits go / anti themselves.
INT_BASES = ("dlygo", "dlyanti", "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm", "dms", "dnms", "dmc",
             "dnmc")


def _all_tasks() -> dict[str, Task]:
    """All 82 tasks in the reference order (mixture-of-pathways `modcog/all`): base, int r/l, seq r, seq l."""
    base = _base_tasks()
    tasks = {name: _make(name, base[name]) for name in BASE_NAMES}
    for name in INT_BASES:
        for suffix, sign in (("intr", 1), ("intl", -1)):
            tasks[name + suffix] = _make(name + suffix, base[name], integrate=sign)
    for suffix, sign in (("seqr", 1), ("seql", -1)):
        for name in BASE_NAMES:
            tasks[name + suffix] = _make(name + suffix, base[name], seq=sign)
    return tasks


TASKS: dict[str, Task] = _all_tasks()

SUITES: dict[str, tuple[str, ...]] = {
    "modcog/all": tuple(TASKS),
    "modcog/base": BASE_NAMES,
    "modcog/int": tuple(n for n in TASKS if n[-4:] in ("intr", "intl")),
    "modcog/seq": tuple(n for n in TASKS if n[-4:] in ("seqr", "seql")),
    # The 16-task subset of the mixture-of-pathways reference (pathways/task.py), in its order.
    "modcog/16": ("go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti", "ctxdlydm1intr", "dm2", "ctxdm1", "dnmcintl",
                  "antiseql", "dlydm1", "dlydm2", "dnmsseql", "ctxdlydm2", "multidlydm"),
}


def task_names() -> tuple[str, ...]:
    """The 82 task names, in the reference order."""
    return tuple(TASKS)


def get_task(name: str | Task) -> Task:
    """The :class:`Task` called `name` (e.g. "dlygointr"); unknown names raise ConfigError listing the valid ones."""
    if isinstance(name, Task):
        return name
    if name.startswith("modcog/") and name[7:] in TASKS:
        name = name[7:]
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def resolve_tasks(tasks: str | Iterable[str | Task]) -> tuple[Task, ...]:
    """A suite name ("modcog/all", "modcog/16", ...), one task name, or a list of task names -> Task specs."""
    if isinstance(tasks, str):
        if tasks in SUITES:
            return tuple(TASKS[n] for n in SUITES[tasks])
        if tasks.startswith("modcog/") and tasks[7:] not in TASKS:
            raise ConfigError(f"unknown suite {tasks!r}; valid suites: {', '.join(SUITES)} or modcog/<task>")
        return (get_task(tasks),)
    tasks = list(tasks)
    if not tasks:
        raise ConfigError("empty task list; give a suite name (e.g. modcog/all) or task names")
    specs = tuple(get_task(t) for t in tasks)
    names = [t.name for t in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"task list has duplicates: {sorted({n for n in names if names.count(n) > 1})}")
    return specs

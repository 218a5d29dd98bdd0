"""Many members of one model, stacked: parameters and buffers on a leading member axis, one call per step.

The members are built one by one, exactly as each would be built alone (its own config and generator, so
its own draws in its own order), then their tensors are stacked and the modules let go; only a template
module is kept, through which :func:`torch.func.functional_call` runs any member's tensors. A step then
vmaps that call over the member axis: N small models cost one batched kernel per layer instead of N.

Members never interact: every operation acts along the member axis, so a NaN in one member leaves the
others bit-identical (:meth:`Ensemble.finite` reports it per member).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.runtime.config import apply_overrides
from brainlearn.runtime.seeding import make_generator, replicate_seed

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Member:
    """One member of an ensemble: a run seed and ``key=value`` overrides of its config (as ``--set`` takes
    them, dotted keys reach nested configs), e.g. ``Member(3, ("lr=0.1", "model.init_gain=2"))``."""

    seed: int
    overrides: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise ConfigError(f"Member: seed must be an integer in [0, 2**63), got {self.seed!r}")
        if isinstance(self.overrides, str) or not all(isinstance(o, str) for o in self.overrides):
            raise ConfigError(f"Member: overrides must be a tuple of 'key=value' strings, got {self.overrides!r}")
        object.__setattr__(self, "overrides", tuple(self.overrides))

    def config(self, base):
        """`base` with this member's overrides applied (and validated)."""
        return apply_overrides(base, self.overrides)


def members(seeds: Iterable[int], grid: Mapping[str, Sequence[Any]] | None = None) -> list[Member]:
    """Every combination of `grid` (``{"lr": [0.1, 0.3]}``) times every seed, grid-major:
    ``members(range(2), {"lr": [0.1, 0.3]})`` is lr=0.1 seeds 0, 1, then lr=0.3 seeds 0, 1."""
    combos: list[tuple[str, ...]] = [()]
    for key, values in (grid or {}).items():
        if isinstance(values, str) or not len(values):
            raise ConfigError(f"members: grid[{key!r}] must be a non-empty list of values, got {values!r}")
        combos = [c + (f"{key}={v}",) for c in combos for v in values]
    return [Member(int(s), c) for c in combos for s in seeds]


class Ensemble:
    """N models of one structure with their parameters and buffers stacked on a leading axis.

    Args:
        modules: the members, built alone (same class, same parameter names, shapes and dtypes). Their
            tensors are copied into the stack; the modules themselves are not kept (the first serves as
            the template that runs every member).

    Attributes:
        params, buffers: ``{name: (N, *shape)}`` tensors, updated in place by a stacked optimiser.

    Example::

        >>> import torch
        >>> from brainlearn.ensemble import Ensemble
        >>> from brainlearn.nn import MLP, MLPConfig
        >>> from brainlearn.runtime import make_generator
        >>> config = MLPConfig(n_in=4, n_hidden=(8,), n_out=2)
        >>> ens = Ensemble([MLP(config, generator=make_generator(s)) for s in range(3)])
        >>> ens(torch.zeros(3, 5, 4)).shape    # one batch of 5 inputs per member
        torch.Size([3, 5, 2])
    """

    def __init__(self, modules: Sequence[nn.Module]):
        modules = list(modules)
        if not modules:
            raise ConfigError("Ensemble: expected at least one member module")
        first = modules[0]
        names = _signature(first)
        for k, m in enumerate(modules[1:], 1):
            if type(m) is not type(first) or _signature(m) != names:
                raise ConfigError(f"Ensemble: member {k} ({type(m).__name__}) differs from member 0 "
                                  f"({type(first).__name__}) in class, parameter names, shapes or dtypes")
        with torch.no_grad():
            self.params: Tensors = {n: torch.stack([m.get_parameter(n).detach() for m in modules])
                                    for n, _ in first.named_parameters()}
            self.buffers: Tensors = {n: torch.stack([m.get_buffer(n) for m in modules])
                                     for n, _ in first.named_buffers()}
        # the template runs every member's tensors; on the meta device, so code that reaches past the
        # swapped-in tensors to the template's own fails loudly instead of using member 0's weights
        self.template = copy.deepcopy(first).to("meta")
        self.device = next(iter(self.params.values())).device if self.params else torch.device("cpu")

    @classmethod
    def build(cls, model: Callable[..., nn.Module], config, members: Sequence[Member],
              device: torch.device | str | None = None) -> Ensemble:
        """Member k is ``model(members[k].config(config), generator=g_k)`` with g_k the init stream of its seed
        (``make_generator(replicate_seed(seed))``), as brainlearn's experiments build their models: the model
        class, its config with the member's overrides (``("init_gain=2",)``), each built exactly as alone."""
        if not members:
            raise ConfigError("Ensemble.build: expected at least one member")
        configs = [m.config(config) for m in members]  # every override checked before anything is built
        return cls([model(c, generator=make_generator(replicate_seed(m.seed))).to(device)
                    for c, m in zip(configs, members)])

    def __len__(self) -> int:
        return next(iter(self.params.values())).shape[0] if self.params else 0

    # ---- running every member ------------------------------------------------------------------------
    def vmap(self, fn: Callable[..., Any], *args, in_dims: Any = 0, chunk: int | None = None):
        """``fn(module, *args)`` for every member at once, `module` holding that member's tensors.

        `args` carry a member axis at `in_dims` (0, or None for an argument all members share, per
        argument as in :func:`torch.func.vmap`); outputs gain a leading member axis. `chunk` runs at most
        that many members at a time, bounding peak memory (same numbers).
        """
        check_chunk(chunk)
        self._check_args(args, in_dims)

        def one(params, buffers, *a):
            return fn(_Bound(self.template, params, buffers), *a)

        dims = (0, 0, *(in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)))
        return vmap(one, in_dims=dims, chunk_size=chunk)(self.params, self.buffers, *args)

    def __call__(self, *args, in_dims: Any = 0, chunk: int | None = None):
        """Every member's forward pass: ``module(*args)`` stacked."""
        return self.vmap(lambda module, *a: module(*a), *args, in_dims=in_dims, chunk=chunk)

    def grad_and_value(self, loss: Callable[..., torch.Tensor], *args, in_dims: Any = 0,
                       chunk: int | None = None) -> tuple[Tensors, torch.Tensor]:
        """Each member's gradient of the scalar ``loss(module, *args)`` with respect to its parameters, and
        the loss: ``({name: (N, *shape)}, (N,))``. The gradient is whatever autograd computes through the
        module, so custom backward passes (feedback alignment) are honoured."""
        check_chunk(chunk)
        self._check_args(args, in_dims)

        def one(params, buffers, *a):
            return loss(_Bound(self.template, params, buffers), *a)

        dims = (0, 0, *(in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)))
        fn = vmap(grad_and_value(one), in_dims=dims, chunk_size=chunk)
        return fn(self.params, self.buffers, *args)

    def run_local(self, fn: Callable[..., Any], *args, in_dims: Any = 0,
                  chunk: int | None = None) -> tuple[Tensors, Any]:
        """Run a local learning rule on every member: ``fn(module, *args)`` on each member's tensors.

        Returns ``({name: (N, *shape)}, out)``: the ``.grad`` the rule wrote into every parameter (zeros where
        none; BurstCCN's ``backward_local``, a recurrent rule's ``accumulate``) for a stacked optimiser to
        apply, and `fn`'s output stacked (None, or tensors in lists, tuples and dicts). A rule that applies
        its own updates in place (the dendritic microcircuit's ``train_step``) updates the stack directly.
        Checks that read values (label ranges) cannot run inside the ensemble; validate the batch first.
        """
        check_chunk(chunk)
        self._check_args(args, in_dims)
        call = _LocalGrads(self.template, fn)
        tensors = {f"inner.{n}": t for n, t in {**self.params, **self.buffers}.items()}

        def one(tensors, *a):
            return functional_call(call, tensors, a, tie_weights=False, strict=False)

        dims = (0, *(in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)))
        grads, out = vmap(one, in_dims=dims, chunk_size=chunk)(tensors, *args)
        return grads, (None if isinstance(out, tuple) and not out else out)

    def _check_args(self, args, in_dims) -> None:
        dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
        if len(dims) != len(args):
            raise ConfigError(f"in_dims: expected one entry per argument ({len(args)}), got {len(dims)}")
        for i, (a, d) in enumerate(zip(args, dims)):
            if isinstance(a, torch.Tensor):
                check_tensor(a, f"argument {i}")  # once here: inside vmap values cannot be inspected
                if d is not None and (a.ndim <= d or a.shape[d] != len(self)):
                    raise ShapeError(f"argument {i}: expected {len(self)} members on axis {d}, got shape "
                                     f"{tuple(a.shape)}")

    # ---- members ------------------------------------------------------------------------------------
    def member(self, k: int) -> nn.Module:
        """Member `k` as a module of its own (a copy: training it does not change the ensemble)."""
        self._check_index(k)
        module = copy.deepcopy(self.template).to_empty(device=self.device)
        module.load_state_dict(self.member_state_dict(k))
        return module

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member `k`'s ``state_dict()`` as its module alone would give it (copies)."""
        self._check_index(k)
        state = {n: t[k].clone() for n, t in {**self.params, **self.buffers}.items()}
        return {n: state[n] for n in self.template.state_dict()}

    def load_member_state_dict(self, k: int, state: Mapping[str, torch.Tensor]) -> None:
        """Set member `k` from a ``state_dict()`` of a module of the template's structure."""
        self._check_index(k)
        missing = set({**self.params, **self.buffers}) - set(state)
        if missing:
            raise ConfigError(f"member state: missing {', '.join(sorted(missing))}")
        with torch.no_grad():
            for n, t in {**self.params, **self.buffers}.items():
                if state[n].shape != t.shape[1:]:
                    raise ShapeError(f"member state {n!r}: expected shape {tuple(t.shape[1:])}, "
                                     f"got {tuple(state[n].shape)}")
                t[k].copy_(state[n])

    def finite(self) -> torch.Tensor:
        """(N,) bool: whether every parameter and buffer of each member is finite."""
        ok = torch.ones(len(self), dtype=torch.bool, device=self.device)
        for t in {**self.params, **self.buffers}.values():
            if t.is_floating_point():
                ok &= t.isfinite().flatten(1).all(1)
        return ok

    def _check_index(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(self):
            raise ConfigError(f"member index {k!r}: expected an integer in [0, {len(self)})")


def check_chunk(chunk: int | None) -> None:
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(f"chunk: expected an integer >= 1 or None, got {chunk!r}")


def _signature(module: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    return [(n, tuple(t.shape), t.dtype) for n, t in [*module.named_parameters(), *module.named_buffers()]]


class _Bound:
    """A module with one member's tensors swapped in: calling it (or any of its methods through
    :meth:`call`) runs the template through :func:`torch.func.functional_call`."""

    def __init__(self, module: nn.Module, params: Tensors, buffers: Tensors):
        self.module, self.tensors = module, {**params, **buffers}

    def __call__(self, *args, **kwargs):
        return functional_call(self.module, self.tensors, args, kwargs, tie_weights=False, strict=False)

    def call(self, method: str, *args, **kwargs):
        """``module.<method>(*args, **kwargs)`` with the member's tensors."""
        tensors = {f"inner.{n}": t for n, t in self.tensors.items()}
        return functional_call(_Method(self.module, method), tensors, args, kwargs, tie_weights=False, strict=False)

    def __getattr__(self, name):  # config, sizes, ...: the template's attributes that are not tensors
        return getattr(self.module, name)


class _LocalGrads(nn.Module):
    """Runs ``fn(module, *args)`` on the swapped-in tensors and returns the ``.grad`` it wrote, and its output."""

    def __init__(self, module: nn.Module, fn: Callable[..., Any]):
        super().__init__()
        self.inner, self.fn = module, fn

    def forward(self, *args):
        params = dict(self.inner.named_parameters())
        for p in params.values():
            p.grad = None
        out = self.fn(self.inner, *args)
        grads = {n: p.grad if p.grad is not None else torch.zeros_like(p) for n, p in params.items()}
        return grads, (() if out is None else out)  # () : no tensors (vmap refuses None)


class _Method(nn.Module):
    """Routes forward to another method of `module`, so functional_call can swap tensors around it."""

    def __init__(self, module: nn.Module, method: str):
        super().__init__()
        self.inner, self.method = module, method

    def forward(self, *args, **kwargs):
        return getattr(self.inner, self.method)(*args, **kwargs)

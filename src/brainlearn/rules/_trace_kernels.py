"""One pass over an eligibility trace per step: E ← d ⊙ E + c âᵀ and the contraction G = Σ_b L_b ⊙ E_b in the
same loop, compiled with numba where it is installed (``pip install 'brainlearn[numba]'``).

Why: the trace (B, n, P) is the step's memory traffic (17 MB at n = 256, B = 64), and torch runs the decay,
the add and the contraction as separate passes over it; one compiled loop reads and writes each element once.
The arithmetic is the torch path's, rounded differently (torch's vectorised add may fuse the multiply-add,
and its matrix product sums the contraction in blocks where this loop sums over the batch in order): the
updates agree to float rounding (tested). Without numba, on another device or inside an ensemble's vmap the
rules keep their torch path (``BRAINLEARN_NUMBA=0`` forces it).
"""

from __future__ import annotations

import torch

from brainlearn.errors import inside_transform
from brainlearn.runtime.compiled import compiled


def _compile():
    import numba

    @numba.njit(cache=True, nogil=True)
    def decay_add_contract(E, decay, c, ahat, L, G):
        B, n, P = E.shape
        for b in range(B):
            for i in range(n):
                d, cc, ll = decay[b, i], c[b, i], L[b, i]
                for j in range(P):
                    v = d * E[b, i, j] + cc * ahat[b, j]
                    E[b, i, j] = v
                    G[i, j] += ll * v

    return decay_add_contract


def _kernel():
    return compiled(_compile)


def fused(trace: torch.Tensor) -> bool:
    """Whether :func:`decay_add_contract` runs on `trace`: numba installed, a contiguous CPU float tensor that
    needs no gradient, outside any torch.func transform."""
    return (trace.device.type == "cpu" and trace.dtype in (torch.float32, torch.float64) and trace.is_contiguous()
            and not trace.requires_grad and not inside_transform(trace) and _kernel() is not None)


def decay_add_contract(trace: torch.Tensor, decay: torch.Tensor, c: torch.Tensor, ahat: torch.Tensor,
                       signal: torch.Tensor) -> torch.Tensor:
    """E ← decay ⊙ E + c âᵀ in place (decay, c (B, n); â (B, P)) and return Σ_b signal_b ⊙ E_b, (n, P)."""
    B, n, P = trace.shape
    dtype = trace.dtype
    G = torch.zeros(n, P, dtype=dtype)
    args = [t.to(dtype).expand(B, n).contiguous() for t in (decay, c)]
    _kernel()(trace.numpy(), args[0].numpy(), args[1].numpy(), ahat.to(dtype).contiguous().numpy(),
              signal.to(dtype).contiguous().numpy(), G.numpy())
    return G

"""Solvability check: how fast a small GRU learns one task (a cheap stand-in for the MoP difficulty measure).

A GRU(33 -> hidden) + Linear(hidden -> 17) is trained with Adam on continuous streams of one task
(B x T windows of back-to-back trials, as the MoP model sees them). The loss is the response-period
cross-entropy (no fixation loss, as in the reference's difficulty runs); we record the first step at
which it falls below `threshold` and the final response accuracy on fresh windows.

A fit at seed s draws its weights from the seed scheme's ``init`` stream of s, inside
:func:`runtime.isolated_rng` (``nn`` initialisation uses the global RNG), so a fit is a function of its seed
and leaves the caller's global RNG as it was; its training windows come from the ``data`` stream and the
held-out windows from the ``test`` stream.
"""

from __future__ import annotations

import torch
from torch import nn

from brainlearn.data.cognitive.core import N_CLASSES, N_SENSORY, TaskSuite
from brainlearn.runtime import isolated_rng, make_generator, replicate_seed


class _GRUPolicy(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.gru = nn.GRU(N_SENSORY, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, N_CLASSES)

    def forward(self, x):
        return self.readout(self.gru(x)[0])


def fit_gru(task: str, steps: int = 300, batch_size: int = 32, seq_len: int = 100, hidden: int = 64,
            lr: float = 1e-2, threshold: float = 0.25, seed: int = 0) -> dict:
    """Train a GRU on `task` for at most `steps` steps; stop early once the response loss < `threshold`.

    Returns ``{"task", "steps_to_threshold" (None if never), "final_loss", "accuracy"}``; accuracy is the
    argmax accuracy over response-period steps of 8 fresh windows.
    """
    suite = TaskSuite([task], task_input=False)
    stream = suite.stream(batch_size, seq_len, make_generator(replicate_seed(seed, stream="data")))
    with isolated_rng(replicate_seed(seed, stream="init")):  # nn.Module initialisation draws from the global RNG
        model = _GRUPolicy(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    reached, loss = None, torch.tensor(float("nan"))
    for step in range(1, steps + 1):
        w = next(stream)
        logits = model(w.inputs)
        mask = w.response_mask
        loss = nn.functional.cross_entropy(logits[mask], w.targets[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < threshold:
            reached = step
            break
    test = suite.stream(batch_size, seq_len, make_generator(replicate_seed(seed, stream="test")))
    correct = total = 0
    with torch.no_grad():
        for _ in range(8):
            w = next(test)
            pred = model(w.inputs).argmax(-1)
            correct += int((pred == w.targets)[w.response_mask].sum())
            total += int(w.response_mask.sum())
    return {"task": task, "steps_to_threshold": reached, "final_loss": loss.item(), "accuracy": correct / total}

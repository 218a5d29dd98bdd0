"""Sequence tasks for the recurrent learning rules (brainlearn.data.rnn_tasks)."""

from __future__ import annotations

import math

import pytest
import torch

from brainlearn.data import rnn_tasks as tasks
from brainlearn.errors import ConfigError


def test_add_task_floors_and_statistics():
    floors = tasks.add_task_floors((5, 9))
    assert [round(f, 3) for f in floors] == [0.662, 0.519, 0.454]
    g = torch.Generator().manual_seed(0)
    x, y, w = tasks.add_task(4, 2000, generator=g)
    assert x.shape == (4, 2000, 1) and y.shape == (4, 2000, 2) and bool((w == 1).all())
    p = y[..., 0]
    assert torch.allclose(p[:, 9:], 0.5 + 0.5 * x[:, 4:-5, 0] - 0.25 * x[:, :-9, 0])
    ce = -(y * torch.log(y.clamp_min(1e-12))).sum(-1).mean()  # the entropy of the true p: the last floor
    assert abs(float(ce) - floors[-1]) < 0.02
    with pytest.raises(ConfigError):
        tasks.add_task(1, 10, lags=(5,), coefs=(0.7,))
    with pytest.raises(ConfigError):
        tasks.add_task(1, 0)


def test_other_tasks():
    g = torch.Generator().manual_seed(1)
    x, y, w = tasks.flip_flop(2, 50, 2, 0.2, generator=g)
    last = torch.zeros(2, 2)
    for t in range(50):
        last = torch.where(x[:, t] != 0, x[:, t], last)
        assert torch.equal(y[:, t], last)
    x, y, w = tasks.delayed_nonmatch(3, 2, delay=2, generator=g)
    assert x.shape == (3, 10, 3) and w.sum() == 6
    match = (x[:, 0, :2].argmax(1) == x[:, 3, :2].argmax(1)).long()
    assert torch.equal(y[:, 4].argmax(1), match)
    x, y, w = tasks.sine_generation(2, 20, (10.0,), generator=g)
    assert torch.allclose(y[0, :, 0], 0.5 * torch.sin(2 * math.pi * torch.arange(20) / 10.0))
    x, y, w = tasks.sequential_digits(5, generator=g)
    assert x.shape == (5, 8, 8) and float(x.max()) <= 1 and w[:, -1].sum() == 5
    for name, task in tasks.TASKS.items():
        x, y, w = task.sample(2, 12, g)
        assert x.shape[-1] == task.n_in and y.shape[-1] == task.n_out, name


def test_copy_repeat_fits_its_level_to_the_length():
    g = torch.Generator().manual_seed(2)
    x, y, w = tasks.copy_repeat(3, 24, generator=g)          # n = 3, R = 24 // 3 - 2 = 6: length 7 * 3 + 3 = 24
    assert x.shape == (3, 24, 6) and y.shape == (3, 24, 5) and w.shape == (3, 24)
    pattern = x[:, 1:4, :4]
    assert torch.equal(y[:, 5:23, :4], pattern.repeat(1, 6, 1))   # written out R times
    assert bool((y[:, 23, 4] == 1).all()) and float(w[0].sum()) == 6 * 3 + 1
    assert tasks.copy_repeat(2, 13, generator=g)[0].shape[1] == 12  # R = 2: (2 + 1) 3 + 3 = 12 <= 13
    with pytest.raises(ConfigError, match="T >= 9"):
        tasks.copy_repeat(2, 8, generator=g)

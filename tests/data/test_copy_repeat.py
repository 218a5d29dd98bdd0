"""The copy-repeat task: its layout, its curriculum, bad inputs."""

import pytest
import torch

from brainlearn.data.copy_repeat import CopyRepeatCurriculum, copy_repeat_batch
from brainlearn.errors import ConfigError


def test_copy_repeat_layout():
    x, targets, mask = copy_repeat_batch(3, 2, 5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 12, 10) and targets.shape == (5, 12, 9) and mask.shape == (12,)
    assert mask.sum() == 2 * 3 + 1 and not mask[:5].any()
    torch.testing.assert_close(targets[:, 5:8, :8], x[:, 1:4, :8])
    torch.testing.assert_close(targets[:, 8:11, :8], x[:, 1:4, :8])
    assert (targets[:, -1, 8] == 1).all() and (x[:, 0, 8] == 1).all() and (x[:, 4, 9] == 0.2).all()


def test_curriculum_order():
    c = CopyRepeatCurriculum()
    levels = []
    for loss in (0.1, 0.5, 0.1, 0.1, 0.1):
        c.update(loss)
        levels.append((c.n, c.r))
    assert levels == [(2, 1), (2, 1), (2, 2), (3, 2), (3, 3)] and c.level == 4


def test_bad_inputs():
    with pytest.raises(ConfigError):
        copy_repeat_batch(0, 1, 1, torch.Generator())

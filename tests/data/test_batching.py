
import torch

from brainlearn.data import minibatches


def test_minibatches_cover_everything_once():
    g = torch.Generator().manual_seed(0)
    batches = list(minibatches(10, 3, g))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))

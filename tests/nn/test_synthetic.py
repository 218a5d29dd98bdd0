"""The synthesiser g(s): zero at initialisation, its shapes and context input."""

import pytest
import torch

from brainlearn.errors import ShapeError
from brainlearn.nn import Synthesiser, SynthesiserConfig


@pytest.mark.parametrize("hidden", [(), (16,), (8, 8)])
def test_zero_at_initialisation(hidden):
    g = Synthesiser(SynthesiserConfig(6, hidden))
    assert torch.count_nonzero(g(torch.randn(4, 6))) == 0


def test_context_and_shapes():
    g = Synthesiser(SynthesiserConfig(6, (8,), context_dim=3))
    assert g(torch.randn(2, 6), torch.randn(2, 3)).shape == (2, 6)
    with pytest.raises(ShapeError, match="no context"):
        g(torch.randn(2, 6))
    with pytest.raises(ShapeError, match=r"\(batch, 6\)"):
        g(torch.randn(2, 5), torch.randn(2, 3))

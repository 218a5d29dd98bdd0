"""brainlearn.nn.mlp: the MLP's config validation and input checks."""

import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.nn import MLP, MLPConfig


def test_mlp_bad_input():
    with pytest.raises(ConfigError):
        MLP(MLPConfig(n_in=5, n_hidden=(), n_out=0))
    with pytest.raises(ConfigError, match="activation"):
        MLP(MLPConfig(n_in=5, n_hidden=(), n_out=2, activation="gelu"))
    with pytest.raises(ShapeError, match=r"expected shape \(batch, 5\)"):
        MLP(MLPConfig(n_in=5, n_hidden=(), n_out=2))(torch.zeros(3, 4))

import os

import pytest
import torch

torch.set_num_threads(1)  # tiny models: one thread is faster and keeps CI deterministic
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tmp_runs(tmp_path):
    return tmp_path / "runs"

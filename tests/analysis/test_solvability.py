"""The solvability check: a small GRU learns the easy Mod-Cog tasks quickly."""

import pytest

from brainlearn.analysis.solvability import fit_gru


@pytest.mark.slow
@pytest.mark.parametrize("task", ["rtgo", "go", "rtanti"])
def test_small_gru_learns_easy_tasks_quickly(task):
    """GRU-64 on B32 x T100 streams reaches response loss < 0.25 within 300 Adam steps on the easy tasks."""
    result = fit_gru(task, steps=300)
    assert result["steps_to_threshold"] is not None and result["accuracy"] > 0.9, result

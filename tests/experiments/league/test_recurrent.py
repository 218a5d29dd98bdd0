"""league-recurrent: contracts, stacked members equal members trained one by one, the cosine probe, config
validation, and the quick preset's gated claims."""

import dataclasses

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.league import recurrent as league
from brainlearn.experiments.league.recurrent import LeagueRecurrentConfig
from brainlearn.rules.recurrent import LeakyRNNConfig
from tests.contracts import check_contracts, gated_claims, quick_claims

SMALL = LeagueRecurrentConfig(tasks=("add",), steps=4, batch_size=3, length=12, test_batch_size=8, probe_size=4,
                              model=LeakyRNNConfig(n_in=1, n_hidden=6, n_out=1, alpha=0.5, gain=0.9), timing=False)


def test_contracts(tmp_path):
    check_contracts("league-recurrent", tmp_path, interrupt_after=2)


@pytest.mark.parametrize("rule", ["eprop", "kernl", "bptt"])
def test_stacked_members_equal_members_trained_one_by_one(rule, monkeypatch):
    """The same cell trained as one ensemble and member by member: the same weights and cosines (float32)."""
    runs = []
    for stacked in (True, False):
        cell = league.Cell(SMALL, "add", rule, 0, "cpu")
        cell.stacked = stacked
        members = [cell.member(r) for r in range(3)]
        cos = cell.fit(members, [1e-2, 3e-2, 1e-1], [cell._gen(r, "data") for r in range(3)])
        runs.append(([n for n, _ in members], cos))
    for a, b in zip(runs[0][0], runs[1][0]):
        for p, q in zip(a.parameters(), b.parameters()):
            assert float((p - q).detach().abs().max()) <= 1e-5, rule
    for a, b in zip(runs[0][1], runs[1][1]):
        assert len(a) == 3 and all(abs(u - v) <= 1e-4 for u, v in zip(a, b)), (rule, a, b)


def test_bptt_is_aligned_with_itself_and_the_readout_has_no_recurrent_update():
    out = {r: league.learn(dataclasses.replace(SMALL, lr_grid=(1e-2,), replicates=2), "add", r, 0, "cpu")
           for r in ("bptt", "rtrl", "readout")}
    assert all(abs(c - 1) < 1e-5 for member in out["bptt"]["cos"] for c in member)
    assert all(abs(c - 1) < 1e-4 for member in out["rtrl"]["cos"] for c in member)   # the same gradient
    assert all(c == 0 for member in out["readout"]["cos"] for c in member)
    assert max(abs(a - b) for a, b in zip(out["rtrl"]["ratio"], out["bptt"]["ratio"])) < 1e-5


def test_bad_configs():
    with pytest.raises(ConfigError, match="rules must be among"):
        LeagueRecurrentConfig(rules=("bptt", "sgd"))
    with pytest.raises(ConfigError, match="tasks must be among"):
        LeagueRecurrentConfig(tasks=("chess",))
    with pytest.raises(ConfigError, match="each once"):
        LeagueRecurrentConfig(rules=("bptt", "bptt"))
    with pytest.raises(ConfigError, match="each task's own"):
        LeagueRecurrentConfig(model=LeakyRNNConfig(n_in=3, n_out=1))


@pytest.mark.slow
@pytest.mark.parametrize("claim", gated_claims("league-recurrent"))
def test_quick_claim(claim):
    assert quick_claims("league-recurrent")[claim]["passed"]

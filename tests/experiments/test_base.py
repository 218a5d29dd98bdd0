"""Claims: verdicts (PASS, FAIL, XFAIL, XPASS), seed statistics, history, and verify's exit codes."""

import json

import numpy as np
import pytest

from brainlearn.cli import main
from brainlearn.errors import ConfigError
from brainlearn.experiments import Claim
from brainlearn.experiments.base import Revision, bootstrap_interval, claim_ok

TINY = ["--set", "epochs=3", "--set", "n_train=200", "--set", "n_test=100", "--set", "angle_every=5"]


def test_verdicts_of_expected_and_unexpected_outcomes():
    holds = Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome")
    known = Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome", expected="fail", note="docs/x.md#why")
    assert holds.evaluate([0.6, 0.7, 0.4])["verdict"] == "PASS"
    assert holds.evaluate([0.1, 0.7, 0.4])["verdict"] == "FAIL"
    assert known.evaluate([0.1, 0.7, 0.4])["verdict"] == "XFAIL"
    assert known.evaluate([0.6, 0.7, 0.4])["verdict"] == "XPASS"
    assert known.evaluate([float("nan")])["verdict"] == "XFAIL"
    row = known.evaluate([0.6, 0.7, 0.4])
    assert claim_ok(row) and not claim_ok(row, strict=True)
    assert not claim_ok(holds.evaluate([0.1])) and claim_ok({**holds.evaluate([0.1]), "gated": False})
    with pytest.raises(ConfigError, match="needs a note"):
        Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome", expected="fail")


def test_seed_statistics():
    c = Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome")
    row = c.evaluate([0.2, 0.9, 0.6, 0.7, 0.8])
    assert row["measured"] == 0.7 and row["values"] == [0.2, 0.9, 0.6, 0.7, 0.8] and row["seeds"] == 5
    lo, hi = row["interval"]
    assert 0.2 <= lo <= 0.7 <= hi <= 0.9
    assert c.evaluate([0.6, 0.7])["interval"] is None  # fewer than three seeds: no interval
    assert bootstrap_interval([1.0, 2.0, 3.0], "mean") == bootstrap_interval([1.0, 2.0, 3.0], "mean")
    assert np.allclose(bootstrap_interval([2.0] * 4, "min"), [2.0, 2.0])


def test_history_is_reported():
    old = Revision("2026-12-01", ">=", 0.9, "min", "0.87 (seeds 0-4)", "the owner's decision")
    row = Claim("c", "p", "s", "m", ">=", 0.8, kind="outcome", history=(old,)).evaluate([0.85])
    assert row["history"] == [{"date": "2026-12-01", "comparator": ">=", "threshold": 0.9, "aggregate": "min",
                               "measured": "0.87 (seeds 0-4)", "reason": "the owner's decision"}]


def test_verify_reports_seed_values_and_a_strip_plot(tmp_path, capsys):
    assert main(["verify", "fa-vs-bp", "--seeds", "3", "--out", str(tmp_path), "--quiet", *TINY]) in (0, 1)
    out = capsys.readouterr().out
    assert "per seed" in out and "95% CI" in out
    (vdir,) = (tmp_path / "verify").iterdir()
    claims = json.loads((vdir / "claims.json").read_text())[0]["claims"]
    assert all(len(c["values"]) == 3 and len(c["interval"]) == 2 for c in claims)
    assert (vdir / "figures" / "fa-vs-bp-claims.png").is_file()
    assert "fa-vs-bp-claims.png" in (vdir / "report.md").read_text()


def test_a_broken_model_fails_its_claim_and_verify_exits_1(tmp_path, monkeypatch, capsys):
    from brainlearn.nn.mlp import MLP

    forward = MLP.forward
    monkeypatch.setattr(MLP, "forward", lambda self, x: forward(self, x) * 0 + 0.5)  # predicts nothing
    assert main(["verify", "fa-vs-bp", "--out", str(tmp_path), "--quiet", *TINY]) == 1
    out = capsys.readouterr().out
    assert "fa-vs-bp:bp-accuracy" in out and "FAIL" in out


def test_a_claims_kind_gives_its_aggregate():
    assert Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome").aggregate == "median"
    assert Claim("c", "p", "s", "m", ">=", 0.5, kind="limit").aggregate == "min"
    assert Claim("c", "p", "s", "m", "<", 0.5, kind="limit").aggregate == "max"
    with pytest.raises(TypeError):
        Claim("c", "p", "s", "m", ">=", 0.5)  # no default: every claim says which kind it is
    with pytest.raises(ConfigError, match="kind"):
        Claim("c", "p", "s", "m", ">=", 0.5, kind="mean")


def test_every_registered_claim_follows_the_aggregate_rule():
    from brainlearn import experiments
    from brainlearn.experiments.base import KINDS, rule_aggregate

    for name in experiments.names():
        exp = experiments.get(name)
        for preset, config in exp.presets.items():
            for c in exp.claims(config):
                assert c.kind in KINDS, (name, preset, c.id)
                assert c.aggregate == rule_aggregate(c.kind, c.comparator), (name, preset, c.id)


def test_claims_written_before_the_rule_keep_their_history():
    from brainlearn.experiments.base import AGGREGATE_RULE, predates_aggregate_rule, revise

    c = Claim("c", "p", "s", "m", ">=", 0.5, kind="outcome")
    (old,) = predates_aggregate_rule([c], was={"c": "mean"}, measured={"c": "0.6"})
    assert old.aggregate == "median"
    assert [(h.date, h.aggregate, h.measured, h.reason) for h in old.history] == [
        ("2026-12-01", "mean", "0.6", AGGREGATE_RULE)]
    (r,) = revise([c], {"c": {"gated": False}}, date="2026-12-02", reason="why", was={"c": "min"})
    assert not r.gated and r.history[0].aggregate == "min"

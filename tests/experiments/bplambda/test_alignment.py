"""The quick claims of the BP(λ) experiments, the copy-repeat generator, config validation, and the
contracts (resume, global RNG, placement) of each experiment."""

import pytest
import torch

from brainlearn.data.copy_repeat import CopyRepeatCurriculum, copy_repeat_batch
from brainlearn.data.sequences import image_rows
from brainlearn.errors import ConfigError
from brainlearn.experiments.bplambda.alignment import AlignmentConfig
from brainlearn.experiments.bplambda.copyrepeat import CopyRepeatConfig
from brainlearn.experiments.bplambda.seqclass import SeqClassConfig
from brainlearn.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def alignment():
    return run_experiment("bplambda-alignment", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["lambda1-aligned", "lambda-ordering", "lambda-middle", "long-lambda1",
                                      "long-lambda0-biased", "bias-fades"])
def test_alignment_quick_claim(alignment, claim_id):
    (claim,) = [c for c in alignment.claims if c["id"] == claim_id]
    assert claim["passed"], claim


@pytest.mark.slow
def test_seqclass_quick_runs_and_bptt_learns():
    out = run_experiment("bplambda-seqclass", seed=0, out=None)
    (claim,) = [c for c in out.claims if c["id"] == "bptt-learns"]
    assert claim["passed"], claim
    assert {"bptt_test_acc", "dni_test_acc", "bplambda_test_acc", "online_test_acc"} <= set(out.result.metrics)


def test_copyrepeat_runs_tiny():
    out = run_experiment("bplambda-copyrepeat", CopyRepeatConfig(updates=3, n_hidden=4, batch_size=4),
                         seed=0, out=None)
    assert {"bptt_level", "dni_level", "bplambda_level", "online_level"} <= set(out.result.metrics)


def test_seqclass_tiny_runs():
    config = SeqClassConfig(dataset="digits", n_train=40, n_test=20, n_hidden=4, batch_size=20, epochs=1)
    out = run_experiment("bplambda-seqclass", config, seed=0, out=None)
    assert 0 <= out.result.metrics["bplambda_test_acc"] <= 1


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


def test_image_rows():
    images = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    assert torch.equal(image_rows(images)[1, 2], images[1, 0, 2])


def test_bad_configs():
    with pytest.raises(ConfigError, match="lambdas"):
        AlignmentConfig(lambdas=(0.5, 1.0))
    with pytest.raises(ConfigError, match="methods"):
        SeqClassConfig(methods=("bptt", "rtrl"))
    with pytest.raises(ConfigError, match="lam"):
        CopyRepeatConfig(lam=2.0)
    with pytest.raises(ConfigError):
        copy_repeat_batch(0, 1, 1, torch.Generator())


def test_tiny_runs_write_figures(tmp_path):
    align = AlignmentConfig(delay=3, long_delay=4, updates=2, long_updates=3, replicates=1, long_replicates=1,
                            batch_size=1)
    out = run_experiment("bplambda-alignment", align, seed=0, out=tmp_path)
    names = {p.name for p in (out.run_dir.path / "figures").glob("*.png")}
    assert {"cosine_per_step_early.png", "cosine_per_step_late.png", "cosine_per_step_long.png",
            "alignment_curves.png"} <= names
    assert out.result.arrays["profile_lam1"].shape == (3,)
    seq = SeqClassConfig(dataset="digits", n_train=20, n_test=10, n_hidden=3, batch_size=10, epochs=1,
                         methods=("bptt", "bplambda"))
    out = run_experiment("bplambda-seqclass", seq, seed=0, out=tmp_path)
    assert (out.run_dir.path / "figures" / "learning_curves.png").exists()
    copy = CopyRepeatConfig(updates=2, n_hidden=3, batch_size=2, methods=("online",))
    out = run_experiment("bplambda-copyrepeat", copy, seed=0, out=tmp_path)
    assert (out.run_dir.path / "figures" / "learning_curves.png").exists()


def test_contracts_alignment(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-alignment", ["delay=3", "long_delay=4", "updates=2", "long_updates=3", "replicates=2",
                                           "long_replicates=1", "batch_size=1"], tmp_path,
                    interrupt_after=3, monkeypatch=monkeypatch)


def test_contracts_seqclass(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-seqclass", ["n_train=40", "n_test=20", "n_hidden=3", "batch_size=20", "epochs=3"],
                    tmp_path, interrupt_after=2, monkeypatch=monkeypatch)


def test_contracts_copyrepeat(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-copyrepeat", ["updates=3", "n_hidden=4", "batch_size=4"], tmp_path,
                    interrupt_after=2, monkeypatch=monkeypatch)

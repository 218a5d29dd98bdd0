"""generalisation-dsprites: contracts, config validation, quick claims (slow)."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config, run_experiment
from tests.contracts import gated_claims

SMALL_DSPRITES = ["model.steps=4", "model.batch_size=8", "data.max_eval=40", "replicates=1",
                  "splits=recomb2range/sqr2tx,recomb2element/sqr_centre"]


def test_contracts_dsprites(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("generalisation-dsprites", tmp_path, interrupt_after=1, monkeypatch=monkeypatch)


def test_every_model_family_and_split_is_a_config_field():
    exp = get("generalisation-dsprites")
    for kind in ("ae", "vae", "cci-vae", "factor-vae", "wae-mmd"):
        for arch in ("burgess", "kim", "montero", "higgins"):
            make_config(exp, "quick", [f"model.kind={kind}", f"model.{kind.replace('-', '_')}.arch={arch}"])
    make_config(exp, "quick", ["splits=extrp/blank_side,recomb2range/sqr2scl"])
    with pytest.raises(ConfigError, match="variants"):
        make_config(exp, "quick", ["splits=recomb2range/nope"])
    with pytest.raises(ConfigError, match="condition"):
        make_config(get("generalisation-diagnosis"), "quick", ["split=r2r/sqr2tx"])
    with pytest.raises(ConfigError):
        make_config(exp, "quick", ["model.kind=gan"])


def test_old_model_keys_name_their_new_place():
    exp = get("generalisation-dsprites")
    for old, new in (("model.capacity=5", "model.cci_vae.c_max"), ("model.latent=4", "model.vae.n_latent"),
                     ("model.tc_gamma=3", "model.factor_vae.gamma")):
        with pytest.raises(ConfigError, match=new.replace(".", r"\.")):
            make_config(exp, "quick", [old])


def test_other_families_run():
    exp = get("generalisation-dsprites")
    config = make_config(exp, "quick", SMALL_DSPRITES[:-1] + ["model.kind=factor-vae", "model.factor_vae.arch=higgins",
                                                             "splits=recomb2range/sqr2tx"])
    out = run_experiment(exp, config, seed=0, out=None, figures=False)
    assert 0 <= out.result.metrics["sqr2tx_decoded_shape_heldout"] <= 1



@pytest.fixture(scope="module")
def quick_dsprites():
    return {c["id"]: c for c in run_experiment("generalisation-dsprites", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", gated_claims("generalisation-dsprites"))
def test_dsprites_quick_claim(quick_dsprites, claim_id):
    assert claim_ok(quick_dsprites[claim_id]), quick_dsprites[claim_id]

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts

CIRCUIT = ["circuit.n_e=16", "circuit.n_pv=4", "circuit.n_sst=4", "circuit.n_vip=4", "circuit.steps=3",
           "circuit.batch=4", "circuit.n_amplitudes=3"]
SEQ = ["protocol.habituation_min=0.5", "protocol.n_test=40", "protocol.n_control=40", "protocol.p_deviant=0.3",
       "protocol.p_omission=0.3", "protocol.control_orientations=4", "protocol.deviant_orientation=90"]


def _claims(name):
    outcome = run_experiment(name, seed=0, out=None, figures=False)
    return {c["id"]: c for c in outcome.claims}


def _gated(name):
    from brainlearn.experiments.runner import make_config

    exp = get(name)
    return [c.id for c in exp.claims(make_config(exp, "quick", [])) if c.gated]


def test_contracts_microcircuit(tmp_path):
    check_contracts("pp-microcircuit", CIRCUIT + ["replicates=2"], tmp_path)


def test_contracts_sequence(tmp_path):
    check_contracts("pp-sequence", SEQ + ["n_shuffles=20"], tmp_path)


def test_contracts_closedloop(tmp_path):
    check_contracts("pp-closedloop", CIRCUIT + ["protocol.duration=20", "replicates=2", "substeps=2"], tmp_path)


def test_contracts_nwb(tmp_path):
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    check_contracts("pp-nwb", SEQ + ["n_shuffles=20", "validate=false"], tmp_path)


def test_contracts_shared(tmp_path):
    check_contracts("pp-shared-mechanism", CIRCUIT + ["n_trials=6", "n_shuffles=20", "n_permutations=50"], tmp_path,
                    interrupt_after=2)


@pytest.fixture(scope="module")
def microcircuit():
    return _claims("pp-microcircuit")


@pytest.fixture(scope="module")
def sequence():
    return _claims("pp-sequence")


@pytest.fixture(scope="module")
def nwb():
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    return _claims("pp-nwb")


@pytest.mark.parametrize("claim_id", _gated("pp-microcircuit"))
def test_microcircuit_claim(microcircuit, claim_id):
    assert claim_ok(microcircuit[claim_id]), microcircuit[claim_id]


@pytest.mark.parametrize("claim_id", _gated("pp-sequence"))
def test_sequence_claim(sequence, claim_id):
    assert claim_ok(sequence[claim_id]), sequence[claim_id]  # PASS, or XFAIL for a known non-reproduction


@pytest.mark.parametrize("claim_id", _gated("pp-nwb"))
def test_nwb_claim(nwb, claim_id):
    assert claim_ok(nwb[claim_id]), nwb[claim_id]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pp-closedloop", "pp-shared-mechanism"])
def test_slow_quick_claims(name):
    for row in _claims(name).values():
        assert claim_ok(row), row

"""Fuzzing the inputs a user controls: `--set` values, CLI arguments and the data readers. Whatever the
input, the outcome is a result or a brainlearn error (one line, exit 2 on the CLI), never a traceback.

Runs briefly by default; ``make test-slow`` (HYPOTHESIS_PROFILE=long) runs many more examples.
"""

from __future__ import annotations

import io
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlearn import experiments
from brainlearn.cli import main
from brainlearn.data.cifar import read_cifar_batch
from brainlearn.data.idx import read_idx
from brainlearn.errors import BrainlearnError
from brainlearn.runtime import apply_overrides, describe_fields

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NAMES = experiments.names()
KEYS = {n: [r["name"] for r in describe_fields(experiments.get(n).preset("quick"))] for n in NAMES}
values = st.one_of(st.text(max_size=12), st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "none", "true",
                                                          "1,2", "1;2", ",", "0x10", "1e-320", "  3 ", "9" * 30]))


@given(name=st.sampled_from(NAMES), data=st.data())
def test_set_overrides_never_raise_anything_but_a_config_error(name, data):
    key = data.draw(st.one_of(st.sampled_from(KEYS[name]), st.text(max_size=8)))
    value = data.draw(values)
    try:
        apply_overrides(experiments.get(name).preset("quick"), [f"{key}={value}"])
    except BrainlearnError:
        pass


@given(argv=st.lists(st.one_of(st.sampled_from(["run", "verify", "show", "sweep", "sweep-report", "tasks",
                                                "list", "--set", "--seed", "--device", "--grid", "--workers",
                                                "--threads", "--resume", "--preset", "--seeds", "--list",
                                                "fa-vs-bp", "lr=", "epochs=0", "cuda", "-1"]),
                               st.text(max_size=6)), max_size=6))
def test_cli_arguments_end_in_an_exit_code(argv, tmp_path, capsys):
    """Arguments that would start a real run are replaced by --list or a missing directory."""
    if argv[:1] in (["run"], ["verify"], ["sweep"]) and not any(a in argv for a in ("--resume", "--list")):
        argv = [*argv, "--set", "epochs=0"]  # always invalid for fa-vs-bp: nothing long runs
    if argv[:1] == ["tasks"]:
        argv = ["tasks", "list"]
    code = main([*argv, "--out", str(tmp_path / "out")] if argv[:1] in (["run"], ["sweep"]) else argv)
    err = capsys.readouterr().err
    assert isinstance(code, int) and "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("brainlearn: error: ")


@given(data=st.binary(max_size=64))
def test_idx_reader_on_random_bytes(data, tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(data)
    try:
        read_idx(path)
    except BrainlearnError:
        pass


@given(dims=st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4), body=st.binary(max_size=32),
       code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]))
def test_idx_reader_on_random_headers(dims, body, code, tmp_path):
    path = tmp_path / "y.idx"
    path.write_bytes(bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body)
    try:
        array = read_idx(path)
    except BrainlearnError:
        return
    assert list(array.shape) == dims


cifar_values = st.recursive(st.one_of(st.none(), st.integers(-3, 300), st.text(max_size=3), st.binary(max_size=8)),
                            lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@given(data=st.one_of(st.binary(max_size=64), st.builds(
    lambda d, labels: pickle.dumps({b"data": d, b"labels": labels}),
    st.one_of(cifar_values, st.just(np.zeros((2, 3072), np.uint8))), cifar_values)))
def test_cifar_reader_on_random_files(data, tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(data)
    try:
        read_cifar_batch(path)
    except BrainlearnError:
        pass


@pytest.mark.parametrize("blob", [b"", b"\x80\x04", pickle.dumps(io.BytesIO)])
def test_cifar_reader_refuses_foreign_pickles(blob, tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(blob)
    with pytest.raises(BrainlearnError):
        read_cifar_batch(path)


# -- the public APIs added since the first fuzz suite: replay buffers, factor loaders, paradigms, NWB, gym envs --

def _outcome(call):
    """Run `call`: a brainlearn error or a result, never a raw library exception."""
    try:
        return call()
    except BrainlearnError:
        return None


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-10**6, 10**6))
dtypes = st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "int16"])


@given(capacity=st.one_of(st.integers(-3, 50), st.sampled_from([0, 10**13]), st.floats(), st.text(max_size=3)),
       seed=st.one_of(st.integers(-5, 2**70), st.floats()), kind=st.sampled_from(["ring", "reservoir", "prioritized"]),
       batches=st.lists(st.tuples(st.integers(0, 6), dtypes, st.lists(finite_or_not, min_size=1, max_size=6)),
                        min_size=1, max_size=4),
       sample=st.one_of(st.integers(-2, 8), st.floats()), priorities=st.lists(finite_or_not, max_size=6))
def test_replay_buffers_on_hostile_inputs(capacity, seed, kind, batches, sample, priorities):
    import torch

    from brainlearn.replay import PrioritizedReplayBuffer, ReservoirBuffer, RingBuffer

    cls = {"ring": RingBuffer, "reservoir": ReservoirBuffer, "prioritized": PrioritizedReplayBuffer}[kind]
    buf = _outcome(lambda: cls(capacity, seed=seed))
    if buf is None:
        return
    for n, dtype, vals in batches:
        values = np.resize(np.asarray(vals, dtype=np.float64), n)
        before = {k: v.clone() for k, v in buf.data.items()}
        # the batch as given (the cast to its dtype is the test's: 256.0 as uint8 is the 0 the buffer receives)
        given = torch.as_tensor(values).to(getattr(torch, dtype)) if dtype != "bool" else torch.as_tensor(values != 0)
        try:
            slots = buf.extend({"x": given})
        except BrainlearnError:
            assert all(torch.equal(before[k], buf.data[k]) for k in before)   # a refused write changes nothing
            continue
        col = buf.data["x"]
        if kind == "ring" and len(slots):   # what was written is exactly what was given: no silent cast
            assert torch.equal(col[slots].cpu().double(), given[-len(slots):].double())
    out = _outcome(lambda: buf.sample(sample))
    if out is not None:
        batch, info = out
        assert len(info["index"]) == sample and info["index"].max() < len(buf)
    if kind == "prioritized" and len(buf):
        idx = list(range(min(len(priorities), len(buf))))
        if _outcome(lambda: buf.update_priorities(idx, priorities[:len(idx)])) is not None or True:
            assert np.isfinite(float(buf.tree.total()))


@given(data=st.binary(max_size=200), keep=st.integers(0, 400))
def test_factor_loaders_on_random_and_damaged_files(data, keep, tmp_path):
    from brainlearn.data.factors import load_dsprites_npz, load_mpi3d_npz

    path = tmp_path / "f.npz"
    buf = io.BytesIO()
    np.savez(buf, imgs=np.zeros((4, 2, 2)), latents_classes=np.zeros((4, 6), int), latents_values=np.zeros((4, 6)))
    for content in (data, buf.getvalue()[:keep] + data):
        path.write_bytes(content)
        for load in (load_dsprites_npz, load_mpi3d_npz):
            _outcome(lambda: load(path))   # noqa: B023 - called at once


@given(start=st.lists(finite_or_not, min_size=1, max_size=4), stop=st.lists(finite_or_not, min_size=1, max_size=4),
       stim=st.sampled_from(["standard", "omission", "halt", "nope", ""]), ori=finite_or_not,
       dt=finite_or_not, channels=st.integers(-1, 8))
def test_event_tables_and_stimulus_matrices_on_hostile_inputs(start, stop, stim, ori, dt, channels):
    from brainlearn.paradigms import make_table, stimulus_matrix

    n = min(len(start), len(stop))
    table = _outcome(lambda: make_table(start[:n], stop[:n], stim, ori, "b"))
    if table is None:
        return
    assert np.all(table["stop_time"] >= table["start_time"]) and np.isfinite(table["start_time"]).all()
    m = _outcome(lambda: stimulus_matrix(table, dt, channels, duration=min(float(table["stop_time"].max()), 100.0)))
    if m is not None:
        assert np.isfinite(m.numpy()).all()


@given(seed=st.one_of(st.integers(-3, 2**70), st.floats(), st.text(max_size=2)),
       kind=st.sampled_from(["oddball", "sequence", "closed"]))
def test_protocol_generation_on_hostile_seeds(seed, kind):
    from brainlearn.paradigms import ClosedLoopProtocol, OddballProtocol, SequenceProtocol

    protocol = {"oddball": OddballProtocol(n_oddball=10, tuning_repeats=1, rf_grid=2),
                "sequence": SequenceProtocol(habituation_min=0.1, n_test=4, n_control=4),
                "closed": ClosedLoopProtocol(duration=10.0)}[kind]
    _outcome(lambda: protocol.generate(seed))


@settings(max_examples=15)
@given(data=st.binary(max_size=300))
def test_nwb_reader_on_random_bytes(data, tmp_path):
    pytest.importorskip("pynwb")
    from brainlearn.io.nwb import read_nwb

    path = tmp_path / "r.nwb"
    path.write_bytes(data)
    session = _outcome(lambda: read_nwb(path))
    assert session is None


@settings(max_examples=20)
@given(task=st.one_of(st.sampled_from(["go", "dm1"]), st.text(max_size=5)), seed=st.integers(-3, 2**70),
       action=st.one_of(st.integers(-3, 40), st.floats(), st.text(max_size=2)))
def test_gym_envs_on_hostile_inputs(task, seed, action):
    pytest.importorskip("gymnasium")
    from brainlearn.data.cognitive.env import make_env

    env = _outcome(lambda: make_env(task))
    if env is None:
        return
    if _outcome(lambda: env.reset(seed=seed)) is None:
        return
    _outcome(lambda: env.step(action))


@settings(max_examples=40)
@given(condition=st.one_of(st.sampled_from(["recomb2range", "recomb2element", "extrp", "random"]), st.text(max_size=6)),
       variant=st.one_of(st.sampled_from(["sqr2tx", "sqr_centre", "blank_side"]), st.text(max_size=6)),
       modifiers=st.lists(st.text(max_size=6), max_size=2),
       indices=st.one_of(st.none(), st.lists(st.integers(-5, 10**6), max_size=5)))
def test_generalisation_splits_on_hostile_names_and_indices(condition, variant, modifiers, indices):
    from brainlearn.data.factors import DSprites
    from brainlearn.data.splits import split_masks

    d = DSprites(size=8, scale=(0.5, 1.0), orientation=(0.0,), posX=(0.0, 0.5, 1.0), posY=(0.0, 1.0))
    out = _outcome(lambda: split_masks(d, condition, variant, modifiers,
                                       None if indices is None else np.asarray(indices, dtype=np.int64)))
    if out is not None:
        train, test = out
        assert train.dtype == bool and test.dtype == bool and train.shape == test.shape

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

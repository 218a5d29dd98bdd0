"""brainlearn.paradigms.protocols: the oddball, sequence and closed-loop protocols."""

import numpy as np
import pytest

from brainlearn.errors import ConfigError
from brainlearn.paradigms import ClosedLoopProtocol, OddballProtocol, SequenceProtocol

FRAME = 1 / 60


def test_same_seed_same_table_other_seed_differs():
    for proto in (OddballProtocol(n_oddball=200), SequenceProtocol(habituation_min=1.0, n_test=200, n_control=20)):
        a, b, c = proto.generate(3), proto.generate(3), proto.generate(4)
        assert a.equals(b) and not a.equals(c)
    cl = ClosedLoopProtocol(duration=30.0)
    assert cl.generate(1).events.equals(cl.generate(1).events)


def test_sequence_deviant_and_omission_rates():
    proto = SequenceProtocol(habituation_min=1.0, n_test=10_000, n_control=0)
    t = proto.generate(0)
    test = t.select(t["block"] == "test")
    per_seq = len(proto.orientations)
    dev = (test["stim_type"] == "deviant_ori").sum() / (len(test) / per_seq)
    om = (test["stim_type"] == "omission").sum() / (len(test) / per_seq)
    assert abs(dev - 0.05) <= 0.01 and abs(om - 0.05) <= 0.01
    assert set(test["position"][test["stim_type"] == "deviant_ori"]) == {proto.deviant_position}
    hab = t.select(t["block"] == "habituation")
    assert set(hab["stim_type"]) == {"standard"} and len(hab) == proto.n_habituation * per_seq


def test_no_deviant_in_baseline_and_durations_to_one_frame():
    t = OddballProtocol(n_oddball=300, p_jitter=0.1).generate(2)
    base = t.select(t["block"] == "baseline")
    assert len(base) == 20 and set(base["stim_type"]) == {"standard"}
    dur = t["stop_time"] - t["start_time"]
    assert np.all(np.abs(dur - 0.25) <= FRAME + 1e-9)
    # onsets are on the 60 Hz frame grid; regular onsets keep the 1.25 s period to a frame
    assert np.allclose(t["start_time"] * 60, np.round(t["start_time"] * 60))
    regular = t.select(np.isin(t["block"], ["baseline", "oddball"]) & (t["stim_type"] != "jitter"))
    assert np.all(np.abs(np.mod(regular["start_time"] + 0.1, 1.25) - 0.1) <= FRAME + 1e-9)
    s = SequenceProtocol(habituation_min=1.0, n_test=50, n_control=10).generate(0)
    assert np.all(np.abs(s["stop_time"] - s["start_time"] - 0.25) <= FRAME + 1e-9)
    assert {"tuning", "rf_map"} <= set(t["stim_type"])
    assert (t["orientation"][t["stim_type"] == "tuning"] % 22.5 == 0).all()


def test_control_block_has_no_sequence():
    t = SequenceProtocol(habituation_min=0.5, n_test=20, n_control=500).generate(1)
    ctrl = t.select(t["block"] == "control")
    counts = np.unique(ctrl["orientation"], return_counts=True)[1]
    assert len(counts) == 16 and counts.min() > 0.5 * counts.mean()   # many equiprobable standards


def test_closed_loop_halts_during_running_and_playback_replays_flow():
    s = ClosedLoopProtocol(duration=60.0).generate(0)
    cl = s.events.select(s.events["block"] == "closed_loop")
    assert len(cl) >= 2 and (cl["running_speed"] > 0).all()
    assert np.array_equal(s.flow["closed_loop"].numpy(), s.flow["playback"].numpy())
    i = int(round(cl["start_time"][0] * 60))
    assert float(s.flow["closed_loop"][i + 1]) == 0.0 and float(s.running["closed_loop"][i + 1]) > 0


def test_bad_protocol_configs():
    with pytest.raises(ConfigError):
        OddballProtocol(p_orientation=0.5, p_halt=0.5)
    with pytest.raises(ConfigError):
        SequenceProtocol(deviant_position=4)
    with pytest.raises(ConfigError):
        SequenceProtocol(p_deviant=-0.1)


@pytest.mark.parametrize("change, message", [
    ({"smoothing": 0.001}, "smoothing must be at least one frame"),
    ({"duration": 1e-6}, "duration must hold a halt"),
    ({"halt": 0.001}, "halt must last at least one frame"),
])
def test_closed_loop_bounds_are_what_is_stable_and_meaningful(change, message):
    with pytest.raises(ConfigError, match=message):
        ClosedLoopProtocol(**change)
    session = ClosedLoopProtocol(duration=10.0, smoothing=1 / 60).generate(0)  # the edge: one frame, still finite
    assert all(np.isfinite(v.numpy()).all() for v in session.running.values())

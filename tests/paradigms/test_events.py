"""brainlearn.paradigms.events: event tables, stimulus matrices and frames."""

import numpy as np
import pytest

from brainlearn.errors import ShapeError
from brainlearn.paradigms import (
    EventTable,
    OddballProtocol,
    SequenceProtocol,
    grating_frames,
    make_table,
    orientation_channel,
    stimulus_matrix,
)


def test_stimulus_matrix_and_frames():
    t = SequenceProtocol(habituation_min=0.5, n_test=20, n_control=4).generate(0)
    X = stimulus_matrix(t, 0.25, 16)
    assert X.shape[1] == 16 and float(X.sum()) == pytest.approx((t["contrast"] > 0).sum())
    f = grating_frames(t.select(slice(0, 8)), 60.0, size=8)
    assert f.shape == (int(round(t["stop_time"][7] * 60)), 8, 8) and f.dtype.is_floating_point is False


def test_stimulus_matrix_equals_brute_force_overlaps():
    t = OddballProtocol(n_oddball=30, p_jitter=0.3, tuning_repeats=1, rf_grid=0).generate(4)
    dt, C = 0.1, 8
    X = stimulus_matrix(t, dt, C).numpy()
    ref = np.zeros_like(X)
    for k in range(len(t)):  # the definition, event by event and bin by bin
        if t["stim_type"][k] in ("omission", "blank") or t["contrast"][k] == 0:
            continue
        c = int(round(t["orientation"][k] / (360 / C))) % C
        for b in range(len(ref)):
            lo, hi = b * dt, (b + 1) * dt
            ref[b, c] += max(0.0, min(t["stop_time"][k], hi) - max(t["start_time"][k], lo)) / dt * t["contrast"][k]
    np.testing.assert_allclose(X, ref, atol=1e-5)


def test_bad_event_tables():
    with pytest.raises(ShapeError):
        EventTable({"start_time": np.zeros(2)})
    with pytest.raises(ShapeError):
        EventTable({"start_time": np.zeros(2), "stop_time": np.zeros(3), "stim_type": np.zeros(2),
                    "orientation": np.zeros(2), "block": np.zeros(2)})


@pytest.mark.parametrize("start, stop, stim_type, orientation, message", [
    ([1.0], [0.5], "standard", 0.0, "stops before it starts"),
    ([np.nan], [1.0], "standard", 0.0, "must be finite"),
    ([0.0], [np.inf], "standard", 0.0, "must be finite"),
    ([0.0], [1.0], "flash", 0.0, "unknown stim_type 'flash'"),
    ([0.0], [1.0], "standard", np.inf, "orientations must be finite"),
])
def test_event_tables_refuse_impossible_events(start, stop, stim_type, orientation, message):
    with pytest.raises(ShapeError, match=message):
        make_table(start, stop, stim_type, orientation, "b")


def test_a_nan_orientation_has_no_channel():
    with pytest.raises(ShapeError, match="no channel"):
        orientation_channel(np.array([0.0, np.nan]), 4)
    assert orientation_channel(np.array([0.0, 90.0, 359.0]), 4).tolist() == [0, 1, 0]
    table = make_table([0.0, 1.0], [1.0, 2.0], ["standard", "omission"], [90.0, np.nan], "b")
    m = stimulus_matrix(table, 0.5, 4)
    assert m[:, 3].sum() == 0 and m[:2, 1].tolist() == [1.0, 1.0]  # the omission drives no channel, not the last

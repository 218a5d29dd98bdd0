import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
pytest.importorskip("nwbinspector")

from brainlearn.analysis.mismatch import align_events, mismatch_index  # noqa: E402
from brainlearn.errors import DataError, ShapeError  # noqa: E402
from brainlearn.io.nwb import read_nwb, validate_nwb, write_nwb  # noqa: E402
from brainlearn.paradigms import OddballProtocol  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    table = OddballProtocol(n_oddball=60, tuning_repeats=1, rf_grid=2).generate(0)
    rate = 30.0
    R = np.random.default_rng(0).random((int(table["stop_time"].max() * rate) + 60, 7)).astype(np.float32)
    path = write_nwb(tmp_path_factory.mktemp("nwb") / "s.nwb", R, rate=rate, events=table, identifier="t")
    return path, R, table, rate


def test_roundtrip_bit_identical_and_analysis_identical(written):
    path, R, table, rate = written
    dev = (table["stim_type"] == "deviant_ori")
    std = (table["stim_type"] == "standard") & (table["block"] == "oddball")
    mem = mismatch_index(align_events(R, table["start_time"][dev], rate=rate),
                         align_events(R, table["start_time"][std], rate=rate), n_shuffles=50)
    with read_nwb(path) as s:
        assert s.events.equals(table) and np.array_equal(s.read_all(), R) and s.data.dtype == np.float32
        ev = s.events
        d = s.align(ev["start_time"][ev["stim_type"] == "deviant_ori"])
        st = s.align(ev["start_time"][(ev["stim_type"] == "standard") & (ev["block"] == "oddball")])
    nwb = mismatch_index(d, st, n_shuffles=50)
    assert np.array_equal(mem["index"], nwb["index"]) and np.array_equal(mem["p"], nwb["p"])


def test_validator_and_inspector_clean(written):
    report = validate_nwb(written[0])
    assert report["validator"] == [] and report["inspector_errors"] == []


def test_missing_and_wrongly_shaped_fields(tmp_path, written):
    path, R, table, rate = written
    with pytest.raises(DataError, match="no NWB file"):
        read_nwb(tmp_path / "absent.nwb")
    with pytest.raises(DataError, match="no TimeIntervals 'trials'"):
        read_nwb(path, intervals="trials")
    with pytest.raises(DataError, match="no RoiResponseSeries 'Other'"):
        read_nwb(path, series="Other")
    with pytest.raises(ShapeError, match="time, cells"):
        write_nwb(tmp_path / "bad.nwb", R[:, 0], rate=rate, events=table)
    # a file without an ophys module
    from datetime import datetime, timezone
    f = pynwb.NWBFile(session_description="x", identifier="y",
                      session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pynwb.NWBHDF5IO(str(tmp_path / "empty.nwb"), "w") as io:
        io.write(f)
    with pytest.raises(DataError, match="no 'ophys' processing module"):
        read_nwb(tmp_path / "empty.nwb")
    with read_nwb(path) as s, pytest.raises(ShapeError, match="leave the recording"):
        s.align([0.0], pre=1.0)


@pytest.mark.parametrize("content", ["random", "truncated", "plain-hdf5"])
def test_files_that_are_not_nwb_are_data_errors(written, tmp_path, content):
    path = tmp_path / "x.nwb"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif content == "truncated":
        path.write_bytes(written[0].read_bytes()[:3000])
    else:
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "w") as f:
            f["x"] = np.zeros(3)
    for read in (read_nwb, validate_nwb):
        with pytest.raises(DataError, match="not a readable NWB file"):
            read(path)


def test_writes_refuse_impossible_rates_and_paths(written, tmp_path):
    from brainlearn.errors import ConfigError

    _, R, table, _ = written
    for rate in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="rate must be a finite number"):
            write_nwb(tmp_path / "a.nwb", R, rate=rate, events=table)
    with pytest.raises(DataError, match="does not exist"):
        write_nwb(tmp_path / "missing" / "a.nwb", R, rate=30.0, events=table)
    with pytest.raises(DataError, match="onto the folder"):
        write_nwb(tmp_path, R, rate=30.0, events=table)
    assert list(tmp_path.iterdir()) == []           # nothing half-written


def test_align_refuses_nan_onsets_and_negative_windows(written):
    from brainlearn.errors import ConfigError

    with read_nwb(written[0]) as s:
        with pytest.raises(ShapeError, match="onsets must be finite"):
            s.align([np.nan])
        with pytest.raises(ConfigError, match="pre >= 0"):
            s.align([5.0], pre=-1.0)

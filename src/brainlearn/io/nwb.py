"""NWB files in the DANDI / OpenScope two-photon layout: write model responses, read event-aligned responses.

Layout written (and expected when reading): ``processing["ophys"]`` holds an ``ImageSegmentation`` with a
``PlaneSegmentation`` (one ROI per cell) and a ``DfOverF`` (or ``Fluorescence``) interface whose
``RoiResponseSeries`` holds the responses (time x cells, regularly sampled or timestamped); the stimulus
events are a ``TimeIntervals`` table in ``intervals`` (columns start_time, stop_time, stim_type,
orientation, block, and any others), as in DANDI:000037. Needs the ``nwb`` extra (pynwb, nwbinspector).

>>> write_nwb("session.nwb", rates, rate=60.0, events=table)                   # doctest: +SKIP
>>> with read_nwb("session.nwb") as session:                                   # doctest: +SKIP
...     R = session.align(session.events["start_time"], pre=0.5, post=1.0)     # cells x trials x time

Reading is lazy: the file stays open in the context, and :meth:`NWBSession.align` reads only the frames
of the requested windows, so a large recording is never loaded whole.
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from brainlearn.errors import BrainlearnError, ConfigError, DataError, ShapeError, quoted
from brainlearn.paradigms.events import DESCRIPTIONS, REQUIRED, EventTable

SESSION_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _pynwb():
    try:
        import pynwb
    except ImportError:
        raise ConfigError("brainlearn.io.nwb needs pynwb: pip install 'brainlearn[nwb]'") from None
    return pynwb


def write_nwb(path, responses, *, rate: float, events: EventTable, starting_time: float = 0.0,
              identifier: str | None = None, session_description: str = "brainlearn model responses",
              session_start_time: datetime = SESSION_START, subject_id: str = "model", species: str = "Mus musculus",
              interface: str = "DfOverF", series: str = "RoiResponseSeries", intervals: str = "stimulus_events",
              indicator: str = "model rates", location: str = "VISp", unit: str = "n.a.",
              experimenter: str = "brainlearn", institution: str = "brainlearn",
              experiment_description: str = "simulated responses of a brainlearn model to a mismatch paradigm",
              keywords: tuple[str, ...] = ("predictive processing", "mismatch", "simulation")) -> Path:
    """Write `responses` (time x cells, float) sampled at `rate` Hz and the `events` table to an NWB file."""
    pynwb = _pynwb()
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    R = np.asarray(responses.detach().cpu().numpy() if hasattr(responses, "detach") else responses)
    if R.ndim != 2 or R.shape[0] < 1 or R.shape[1] < 1:
        raise ShapeError(f"responses must be (time, cells) with both >= 1, got shape {R.shape}")
    if interface not in ("DfOverF", "Fluorescence"):
        raise ConfigError(f"interface must be 'DfOverF' or 'Fluorescence', got {interface!r}")
    real = lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
    if not (real(rate) and rate > 0):      # rate 0 writes a file whose events align to empty windows
        raise ConfigError(f"rate must be a finite number of Hz > 0, got {rate!r}")
    if not real(starting_time):
        raise ConfigError(f"starting_time must be a finite number of seconds, got {starting_time!r}")
    path = Path(path)
    if path.is_dir():
        raise DataError(f"cannot write an NWB file onto the folder {quoted(path)}; give a file path")
    if not path.parent.is_dir():
        raise DataError(f"cannot write {quoted(path)}: the folder {quoted(path.parent)} does not exist")
    nwb = pynwb.NWBFile(session_description=session_description, identifier=identifier or str(uuid.uuid4()),
                        session_start_time=session_start_time, experimenter=[experimenter],
                        institution=institution, experiment_description=experiment_description,
                        keywords=list(keywords),
                        subject=Subject(subject_id=subject_id, species=species, age="P90D", sex="U",
                                        description="simulated animal"))
    device = nwb.create_device(name="Microscope", description="simulated two-photon microscope")
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=OpticalChannel(name="OpticalChannel", description="simulated",
                                                            emission_lambda=520.0),
        description="simulated imaging plane", device=device, excitation_lambda=920.0, imaging_rate=float(rate),
        indicator=indicator, location=location)
    ophys = nwb.create_processing_module(name="ophys", description="optical physiology (model responses)")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    planes = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="one ROI per model cell",
                                                    imaging_plane=plane)
    side = int(np.ceil(np.sqrt(R.shape[1])))
    for i in range(R.shape[1]):  # pynwb adds ROIs one at a time
        planes.add_roi(pixel_mask=[(i % side, i // side, 1.0)])
    rois = planes.create_roi_table_region(region=list(range(R.shape[1])), description="all cells")
    container = (DfOverF if interface == "DfOverF" else Fluorescence)(name=interface)
    ophys.add(container)
    container.create_roi_response_series(name=series, data=R, rois=rois, unit=unit, rate=float(rate),
                                         starting_time=float(starting_time), description="model responses per cell")
    nwb.add_time_intervals(events_to_intervals(events, intervals))
    # written beside the target and renamed into place: an interrupted write leaves no half file
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.nwb")
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def events_to_intervals(events: EventTable, name: str = "stimulus_events"):
    """The event table as a pynwb ``TimeIntervals`` (one column per table column, vectorised)."""
    _pynwb()
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    cols = []
    for k, v in events.columns.items():
        data = v.astype(str).tolist() if v.dtype.kind in "US" else v
        cols.append(VectorData(name=k, description=DESCRIPTIONS.get(k, k), data=data))
    return TimeIntervals(name=name, description="stimulus events (brainlearn.paradigms)", columns=cols,
                         id=list(range(len(events))))


class NWBSession:
    """An open NWB file: the response series (read lazily), its sampling, and the event table."""

    def __init__(self, path, *, series: str | None = None, intervals: str | None = None):
        pynwb = _pynwb()
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no NWB file at {quoted(path)}")
        try:
            self.io = pynwb.NWBHDF5IO(str(path), "r")
        except Exception as e:  # noqa: BLE001 - h5py and hdmf raise many kinds on a damaged or foreign file
            raise DataError(f"{quoted(path)} is not a readable NWB file ({type(e).__name__}: {e})") from None
        try:
            self.nwb = self.io.read()
            self.series = self._series(series)
            self.events = self._events(intervals)
        except BrainlearnError:
            self.io.close()
            raise
        except Exception as e:  # noqa: BLE001 - a plain HDF5 file, a truncated one, another schema
            self.io.close()
            raise DataError(f"{quoted(path)} is not a readable NWB file ({type(e).__name__}: {e})") from None
        self.data = self.series.data                       # an h5py dataset: nothing read yet
        if len(self.data.shape) != 2:
            raise ShapeError(f"{self.series.name}: data must be (time, cells), got shape {self.data.shape}")
        n_rois = len(self.series.rois.data)
        if n_rois != self.data.shape[1]:
            raise ShapeError(f"{self.series.name}: data has {self.data.shape[1]} columns but {n_rois} ROIs")
        self.rate = self.series.rate
        self.starting_time = self.series.starting_time or 0.0
        self.timestamps = None if self.series.timestamps is None else np.asarray(self.series.timestamps[:])
        if self.rate is None and self.timestamps is None:
            raise DataError(f"{self.series.name} has neither a rate nor timestamps")

    def _series(self, name):
        if "ophys" not in self.nwb.processing:
            raise DataError(f"the file has no 'ophys' processing module (found: {sorted(self.nwb.processing)})")
        ophys = self.nwb.processing["ophys"]
        found = []
        for iface in ("DfOverF", "Fluorescence"):
            if iface in ophys.data_interfaces:
                for s in ophys[iface].roi_response_series.values():
                    found.append(s)
        if not found:
            raise DataError(f"processing['ophys'] has no DfOverF or Fluorescence interface with a "
                            f"RoiResponseSeries (found: {sorted(ophys.data_interfaces)})")
        if name is None:
            return found[0]
        for s in found:
            if s.name == name:
                return s
        raise DataError(f"no RoiResponseSeries {name!r} in processing['ophys'] (found: {[s.name for s in found]})")

    def _events(self, name) -> EventTable:
        tables = dict(self.nwb.intervals) if self.nwb.intervals else {}
        if name is None:
            if not tables:
                raise DataError("the file has no TimeIntervals table in intervals")
            name = next(iter(tables))
        if name not in tables:
            raise DataError(f"no TimeIntervals {name!r} in intervals (found: {sorted(tables)})")
        t = tables[name]
        missing = [c for c in REQUIRED if c not in t.colnames and c not in ("start_time", "stop_time")]
        if missing:
            raise DataError(f"intervals[{name!r}] lacks columns {missing} (has: {list(t.colnames)})")
        cols = {}
        for c in t.colnames:
            v = np.asarray(t[c].data[:])
            cols[c] = v.astype(str) if v.dtype.kind in "OSU" else v
        return EventTable(cols)

    def frames(self, times) -> np.ndarray:
        """The frame index of each time (s)."""
        t = np.asarray(times, dtype=float)
        if self.timestamps is not None:
            return np.searchsorted(self.timestamps, t - 1e-9)
        return np.round((t - self.starting_time) * self.rate).astype(int)

    def align(self, onsets, *, pre: float = 0.5, post: float = 1.0) -> np.ndarray:
        """Responses cells x trials x time around each onset (s), ``pre`` s before to ``post`` s after,
        reading only those frames."""
        onsets = np.asarray(onsets, dtype=float)
        if not np.isfinite(onsets).all():
            raise ShapeError("align: onsets must be finite times (s); got NaN or infinite values")
        if not (math.isfinite(pre) and math.isfinite(post) and pre >= 0 and post >= 0 and pre + post > 0):
            raise ConfigError(f"align: need pre >= 0 and post >= 0 (s) with a window longer than 0, got pre={pre}, "
                              f"post={post}")
        rate = self.rate if self.rate is not None else 1 / np.median(np.diff(self.timestamps))
        n_pre, width = int(round(pre * rate)), int(round(pre * rate)) + int(round(post * rate))
        i0 = self.frames(onsets) - n_pre
        n = self.data.shape[0]
        if len(i0) and (i0.min() < 0 or i0.max() + width > n):
            raise ShapeError(f"event windows [{-pre}, {post}] s leave the recording ({n} frames)")
        out = np.empty((len(i0), width, self.data.shape[1]), dtype=self.data.dtype)
        for k, start in enumerate(i0):  # one contiguous read per window
            out[k] = self.data[start:start + width]
        return np.transpose(out, (2, 0, 1))

    def read_all(self) -> np.ndarray:
        """Every frame (time x cells); loads the whole series."""
        return np.asarray(self.data[:])

    def close(self) -> None:
        self.io.close()

    def __enter__(self) -> NWBSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_nwb(path, *, series: str | None = None, intervals: str | None = None) -> NWBSession:
    """Open an NWB file for event-aligned reading (use as a context manager)."""
    return NWBSession(path, series=series, intervals=intervals)


def validate_nwb(path) -> dict[str, list[str]]:
    """Schema errors (pynwb's validator) and nwbinspector messages of importance ERROR or worse (CRITICAL)
    and of any importance, each as strings."""
    pynwb = _pynwb()
    try:
        from nwbinspector import Importance, inspect_nwbfile
    except ImportError:
        raise ConfigError("validate_nwb needs nwbinspector: pip install 'brainlearn[nwb]'") from None
    if not Path(path).is_file():
        raise DataError(f"no NWB file at {quoted(Path(path))}")
    try:
        result = pynwb.validate(path=str(path))
        errors = result[0] if isinstance(result, tuple) else result
        messages = [m for m in inspect_nwbfile(nwbfile_path=str(path)) if m is not None]
    except Exception as e:  # noqa: BLE001 - the validators raise raw h5py/hdmf errors on unreadable files
        raise DataError(f"{quoted(Path(path))} is not a readable NWB file ({type(e).__name__}: {e})") from None
    severe = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    fmt = lambda m: f"{m.importance.name} {m.check_function_name}: {m.message}"  # noqa: E731
    return {"validator": [str(e) for e in errors], "inspector_errors": [fmt(m) for m in severe],
            "inspector_all": [fmt(m) for m in messages]}

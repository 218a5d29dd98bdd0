"""Event tables: one row per stimulus event, columns that map one to one onto an NWB ``TimeIntervals`` table.

An :class:`EventTable` holds numpy columns ``start_time``, ``stop_time`` (seconds), ``stim_type`` (one of
:data:`STIM_TYPES`), ``orientation`` (degrees; NaN where none is shown), ``block`` (the protocol block), and
any extra columns a protocol adds (``position`` within a sequence, ``contrast``, ...). Helpers turn a table
into a binned stimulus matrix (time bins x orientation channels) for the models and into grating frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from brainlearn.errors import ShapeError

STIM_TYPES = ("standard", "deviant_ori", "halt", "omission", "jitter", "tuning", "rf_map", "control", "blank")
REQUIRED = ("start_time", "stop_time", "stim_type", "orientation", "block")
DESCRIPTIONS = {
    "start_time": "event onset (s)", "stop_time": "event offset (s)",
    "stim_type": f"one of {', '.join(STIM_TYPES)}", "orientation": "grating direction (deg); NaN if none",
    "block": "protocol block", "position": "element position within its sequence (0-based; -1 outside)",
    "sequence": "sequence index within its block (-1 outside)", "contrast": "grating contrast (0 = blank)",
    "temporal_frequency": "grating temporal frequency (Hz; 0 = halted)", "x": "RF-mapping patch x (deg)",
    "y": "RF-mapping patch y (deg)",
}


@dataclass
class EventTable:
    """Columns of equal length; ``columns[name]`` is a 1-D numpy array (strings as ``<U`` arrays)."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        missing = [c for c in REQUIRED if c not in self.columns]
        if missing:
            raise ShapeError(f"an event table needs columns {list(REQUIRED)}; missing {missing}")
        self.columns = {k: np.asarray(v) for k, v in self.columns.items()}
        lengths = {k: v.shape for k, v in self.columns.items()}
        if any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) != 1:
            raise ShapeError(f"event-table columns must be 1-D of one length; got shapes {lengths}")
        try:
            start, stop = (self.columns[k].astype(float) for k in ("start_time", "stop_time"))
            orientation = self.columns["orientation"].astype(float)
        except (TypeError, ValueError):
            raise ShapeError("event-table start_time, stop_time and orientation must be numbers") from None
        if not (np.isfinite(start).all() and np.isfinite(stop).all()) or (start < 0).any():
            raise ShapeError("event-table times must be finite seconds >= 0 (no NaN, infinite or negative "
                             "start_time or stop_time)")
        if (stop < start).any():
            k = int(np.flatnonzero(stop < start)[0])
            raise ShapeError(f"event {k} stops before it starts ({stop[k]:g} s < {start[k]:g} s)")
        if np.isinf(orientation).any():
            raise ShapeError("event-table orientations must be finite degrees, or NaN where no grating is shown")
        unknown = sorted(set(self.columns["stim_type"].astype(str).tolist()) - set(STIM_TYPES))
        if unknown:
            raise ShapeError(f"unknown stim_type {unknown[0]!r}; expected one of {', '.join(STIM_TYPES)}")

    def __len__(self) -> int:
        return len(self.columns["start_time"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def select(self, mask) -> EventTable:
        """The rows where `mask` (boolean or index array) holds."""
        return EventTable({k: v[mask] for k, v in self.columns.items()})

    def equals(self, other: EventTable) -> bool:
        """Same columns with identical values (NaN equal to NaN)."""
        if set(self.columns) != set(other.columns):
            return False
        for k, v in self.columns.items():
            w = other.columns[k]
            if v.shape != w.shape:
                return False
            if v.dtype.kind == "f":
                if not np.array_equal(v, w, equal_nan=True):
                    return False
            elif not np.array_equal(v.astype(str), w.astype(str)):
                return False
        return True

    @staticmethod
    def concat(tables) -> EventTable:
        tables = list(tables)
        names = list(tables[0].columns)
        return EventTable({k: np.concatenate([t.columns[k] for t in tables]) for k in names})

    def to_dict(self) -> dict[str, list]:
        return {k: v.tolist() for k, v in self.columns.items()}


def snap(times: np.ndarray, frame_rate: float | None) -> np.ndarray:
    """Times rounded to the nearest frame of `frame_rate` (unchanged if None)."""
    t = np.asarray(times, dtype=float)
    return t if frame_rate is None else np.round(t * frame_rate) / frame_rate


def make_table(start, stop, stim_type, orientation, block, frame_rate=None, **extra) -> EventTable:
    """An :class:`EventTable` with start and stop times snapped to frames (`frame_rate`, Hz)."""
    n = len(start)
    cols: dict[str, np.ndarray] = {
        "start_time": snap(start, frame_rate), "stop_time": snap(stop, frame_rate),
        "stim_type": np.broadcast_to(np.asarray(stim_type, dtype="<U12"), (n,)).copy(),
        "orientation": np.broadcast_to(np.asarray(orientation, dtype=float), (n,)).copy(),
        "block": np.broadcast_to(np.asarray(block, dtype="<U16"), (n,)).copy(),
    }
    for k, v in extra.items():
        cols[k] = np.broadcast_to(np.asarray(v), (n,)).copy()
    return EventTable(cols)


def orientation_channel(orientation: np.ndarray, n_channels: int) -> np.ndarray:
    """The channel (of `n_channels` directions spaced 360/n_channels deg) nearest each orientation.

    A NaN orientation (no grating) has no channel and raises ShapeError: select the events that show a grating
    first (an index of -1 would silently address the last channel)."""
    o = np.asarray(orientation, dtype=float)
    if not np.isfinite(o).all():
        raise ShapeError("orientation_channel: NaN or infinite orientations have no channel; select the events "
                         "that show a grating first")
    return np.round(o / (360.0 / n_channels)).astype(int) % n_channels


#: The most entries a stimulus matrix may have (1 GB of float32): finer bins are a mistake, not a request.
MAX_MATRIX = 2**28


def stimulus_matrix(table: EventTable, dt: float, n_channels: int, duration: float | None = None,
                    visible: Mapping[str, bool] | None = None) -> torch.Tensor:
    """The stimulus as a float32 matrix (time bins of `dt` s) x `n_channels`: bin t, channel c is the fraction
    of the bin during which a grating of direction channel c is on (contrast-weighted if the table has a
    ``contrast`` column). Omissions, blanks and halts of contrast 0 give no drive."""
    if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0) or not isinstance(n_channels, int) \
            or n_channels < 1:
        raise ShapeError(f"need a finite dt > 0 and an integer n_channels >= 1, got dt={dt}, n_channels={n_channels}")
    end = float(table["stop_time"].max()) if duration is None else duration
    if not (np.isfinite(end) and end >= 0):
        raise ShapeError(f"duration must be a finite number of seconds >= 0, got {end}")
    bins = np.ceil(end / dt - 1e-9)           # inf for a subnormal dt: too many bins, not an overflow
    n_bins = int(bins) if np.isfinite(bins) else MAX_MATRIX + 1
    if n_bins * n_channels > MAX_MATRIX:
        raise ShapeError(f"a {end:g} s stimulus in bins of {dt:g} s x {n_channels} channels is {n_bins} x {n_channels}"
                         f" entries, more than {MAX_MATRIX:.0e}: use coarser bins")
    contrast = table.columns.get("contrast", np.ones(len(table)))
    shown = ~np.isin(table["stim_type"], ["omission", "blank"]) & (contrast > 0) & ~np.isnan(table["orientation"])
    ch = np.full(len(table), -1)
    ch[shown] = orientation_channel(table["orientation"][shown], n_channels)
    # only the part of each event inside [0, end) can reach a bin: clip first, so a long event costs no more
    start, stop = np.clip(table["start_time"][shown], 0, end), np.clip(table["stop_time"][shown], 0, end)
    # each event overlaps at most `span` consecutive bins: events x span overlaps, vectorised
    first = np.floor(start / dt + 1e-9).astype(int)
    span = int(np.ceil(((stop - start).max(initial=0.0)) / dt)) + 1
    bins = first[:, None] + np.arange(span)[None]
    lo, hi = bins * dt, (bins + 1) * dt
    overlap = np.clip(np.minimum(stop[:, None], hi) - np.maximum(start[:, None], lo), 0, None) / dt
    inside = (bins >= 0) & (bins < n_bins)
    out = np.zeros((n_bins, n_channels))
    np.add.at(out, (bins[inside], np.broadcast_to(ch[shown, None], bins.shape)[inside]),
              (overlap * contrast[shown, None])[inside])
    return torch.as_tensor(out, dtype=torch.float32)


def grating_frames(table: EventTable, frame_rate: float, size: int = 16, spatial_frequency: float = 0.04,
                   temporal_frequency: float = 2.0, degrees: float = 100.0, duration: float | None = None
                   ) -> torch.Tensor:
    """Full-field drifting-grating frames (uint8, frames x size x size, grey 128 between events) at
    `frame_rate` Hz over `degrees` of visual angle; a ``temporal_frequency`` column (halts: 0) overrides
    the default drift rate, a ``contrast`` column the contrast."""
    end = float(table["stop_time"].max()) if duration is None else duration
    n = int(round(end * frame_rate))
    t = np.arange(n) / frame_rate
    contrast = table.columns.get("contrast", np.ones(len(table)))
    tf = table.columns.get("temporal_frequency", np.full(len(table), temporal_frequency))
    on = ~np.isin(table["stim_type"], ["omission", "blank"]) & ~np.isnan(table["orientation"])
    event = np.full(n, -1)
    for k in np.flatnonzero(on):  # events are few compared with frames; each fills its frame range
        i0, i1 = int(round(table["start_time"][k] * frame_rate)), int(round(table["stop_time"][k] * frame_rate))
        event[i0:i1] = k
    coords = (np.arange(size) / size - 0.5) * degrees
    X, Y = np.meshgrid(coords, coords)
    theta = np.deg2rad(np.where(event >= 0, table["orientation"][event.clip(0)], 0.0))
    phase = 2 * np.pi * np.where(event >= 0, tf[event.clip(0)], 0.0) * (t - table["start_time"][event.clip(0)])
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    arg = 2 * np.pi * spatial_frequency * (X[None] * cos + Y[None] * sin)
    c = np.where(event >= 0, contrast[event.clip(0)], 0.0)[:, None, None]
    frames = 128 + 127 * c * np.sin(arg - phase[:, None, None])
    return torch.as_tensor(np.round(frames).astype(np.uint8))

"""Stimulus paradigms for mismatch experiments: seeded event tables (NWB-ready) and optional frames.

>>> from brainlearn.paradigms import SequenceProtocol
>>> table = SequenceProtocol(habituation_min=1.0, n_test=40, n_control=10).generate(seed=0)
>>> sorted(set(table["block"]))
['control', 'habituation', 'test']
"""

from brainlearn.paradigms.events import (
    STIM_TYPES,
    EventTable,
    grating_frames,
    make_table,
    orientation_channel,
    stimulus_matrix,
)
from brainlearn.paradigms.protocols import ClosedLoopProtocol, ClosedLoopSession, OddballProtocol, SequenceProtocol

__all__ = [
    "STIM_TYPES", "ClosedLoopProtocol", "ClosedLoopSession", "EventTable", "OddballProtocol", "SequenceProtocol",
    "grating_frames", "make_table", "orientation_channel", "stimulus_matrix",
]

"""Shared run-time machinery: configs, seeding, devices, run directories, the run context."""

from brainlearn.runtime.config import apply_overrides, choice, config_from_dict, config_to_dict, require
from brainlearn.runtime.context import RunContext
from brainlearn.runtime.device import resolve_device
from brainlearn.runtime.rundir import RunDir, atomic_write_bytes, atomic_write_json
from brainlearn.runtime.seeding import make_generator, seed_everything

__all__ = [
    "RunContext", "RunDir", "apply_overrides", "atomic_write_bytes", "atomic_write_json", "choice",
    "config_from_dict", "config_to_dict", "make_generator", "require", "resolve_device", "seed_everything",
]

"""Shared run-time machinery: configs, seeding, devices, run directories, the run context, the loop."""

from brainlearn.runtime.config import (
    Config,
    apply_overrides,
    choice,
    config_from_dict,
    config_to_dict,
    describe_fields,
    param,
    require,
)
from brainlearn.runtime.context import RunContext
from brainlearn.runtime.device import place, resolve_device
from brainlearn.runtime.loop import run_jobs, train
from brainlearn.runtime.rundir import RunDir, atomic_write_bytes, atomic_write_json
from brainlearn.runtime.seeding import isolated_rng, make_generator, replicate_seed

__all__ = [
    "Config", "RunContext", "RunDir", "apply_overrides", "atomic_write_bytes", "atomic_write_json", "choice",
    "config_from_dict", "config_to_dict", "describe_fields", "isolated_rng", "make_generator", "param", "place",
    "replicate_seed", "require", "resolve_device", "run_jobs", "train",
]

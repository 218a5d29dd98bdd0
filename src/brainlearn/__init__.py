"""brainlearn: published models of how brains learn, and the experiments that test them.

Submodules (imported on demand, so `import brainlearn` stays light):

- :mod:`brainlearn.data`: image datasets and procedural task generators
- :mod:`brainlearn.nn`: shared building blocks (MLPs, FA layers, synthetic gradients)
- :mod:`brainlearn.models`: one module per published model
- :mod:`brainlearn.rules`: credit-assignment rules shared by several models
- :mod:`brainlearn.analysis`: gradient alignment and other measurements
- :mod:`brainlearn.experiments`: the registry of paper experiments and their claims
- :mod:`brainlearn.runtime`: seeding, devices, run directories, reports
"""

from brainlearn import _gym_ids
from brainlearn.errors import BrainlearnError, ConfigError, DataError, ShapeError

__version__ = "0.1.0"
__all__ = ["BrainlearnError", "ConfigError", "DataError", "ShapeError", "__version__"]

_gym_ids.install()  # gym.make("brainlearn/<task>-v0") after `import brainlearn`, without importing gymnasium here

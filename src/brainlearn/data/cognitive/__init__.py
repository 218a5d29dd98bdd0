"""Cognitive tasks: the 82 Mod-Cog tasks (Khona, Chandra et al. 2022), generated natively and vectorised.

>>> from brainlearn.data.cognitive import TaskSuite
>>> from brainlearn.runtime import make_generator
>>> suite = TaskSuite("modcog/all")                     # 82 tasks, 33 + 82 inputs, 17 output classes
>>> batch = suite.trials(64, make_generator(0))         # trial-aligned: one padded trial per row
>>> stream = suite.stream(128, 350, make_generator(0))  # back-to-back trials cut into windows
>>> window = next(stream)                               # Batch: inputs (128, 350, 115), targets, task, masks
"""

from brainlearn.data.cognitive.core import (
    N_CLASSES,
    N_RING,
    N_SENSORY,
    PERIODS,
    Batch,
    TaskStream,
    TaskSuite,
    Trials,
    gaussian_bump,
)
from brainlearn.data.cognitive.tasks import SUITES, TASKS, Task, get_task, resolve_tasks, task_names

__all__ = [
    "N_CLASSES", "N_RING", "N_SENSORY", "PERIODS", "SUITES", "TASKS", "Batch", "Task", "TaskStream", "TaskSuite",
    "Trials", "gaussian_bump", "get_task", "resolve_tasks", "task_names",
]

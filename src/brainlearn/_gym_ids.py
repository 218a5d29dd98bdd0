"""Makes ``gym.make("brainlearn/<task>-v0")`` work after ``import brainlearn``, in either import order.

The ids are registered by importing :mod:`brainlearn.data.cognitive.env`, which needs gymnasium and torch, so
``import brainlearn`` must not do it (it would take a second instead of milliseconds). Instead: if gymnasium is
already imported, register now; otherwise a one-shot import hook registers the ids right after gymnasium's own
import finishes. A process that never imports gymnasium pays nothing. gymnasium >= 1.0 reads no
``gymnasium.envs`` entry-point group (plugin loading was removed), which is why brainlearn watches for it.
Only ``sys`` is imported at module level: ``importlib.util`` and ``importlib.abc`` would cost milliseconds.
"""

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (nor the modules below)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

GYMNASIUM = "gymnasium"
ENV_MODULE = "brainlearn.data.cognitive.env"


def register_ids() -> None:
    """Import the env module (its import registers the ids). A failure warns rather than breaking gymnasium's import."""
    import importlib
    import warnings

    try:
        importlib.import_module(ENV_MODULE)  # already importing (it imported gymnasium): it registers when it ends
    except Exception as e:  # e.g. a gymnasium older than 1.0
        warnings.warn(f"brainlearn could not register its gymnasium ids ({type(e).__name__}: {e}); "
                      f"gym.make('brainlearn/...') will not find them", RuntimeWarning, stacklevel=2)


class _AfterGymnasiumImport:
    """A ``sys.meta_path`` finder that finds nothing itself: at gymnasium's first import it removes itself, lets
    the other finders find gymnasium, and has the loader call :func:`register_ids` once gymnasium's module ran."""

    def find_spec(self, fullname: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        if fullname != GYMNASIUM:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        else:
            return None  # gymnasium is not installed: the import fails as it would without brainlearn
        if spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module: "ModuleType") -> None:
            exec_module(module)
            register_ids()

        spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]  # this spec's loader only
        return spec


def install() -> None:
    """Register now if gymnasium is imported, else once it is (idempotent)."""
    if GYMNASIUM in sys.modules:
        register_ids()
    elif not any(isinstance(finder, _AfterGymnasiumImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterGymnasiumImport())

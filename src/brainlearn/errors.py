"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this module loads with every import
if TYPE_CHECKING:
    import torch


class BrainlearnError(Exception):
    """Base class for user-facing errors: bad config, missing data, wrong shapes."""


class ConfigError(BrainlearnError, ValueError):
    """A configuration value, override or name is invalid."""


class DataError(BrainlearnError, FileNotFoundError):
    """A dataset is missing or malformed."""


class ShapeError(BrainlearnError, ValueError):
    """A tensor passed to a public function has the wrong shape or contains NaNs."""


def __getattr__(name: str) -> type:
    """``NotFittedError``: a :class:`ConfigError` that is also scikit-learn's ``NotFittedError``, raised when a
    fitted-state method (a similarity metric's ``score``/``transform``) is called before ``fit``. It is built on
    first use so that importing this module (every CLI call does) does not import scikit-learn."""
    if name != "NotFittedError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(ConfigError, SklearnNotFittedError):
        """A method that needs a fitted object was called before ``fit``."""

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return globals().setdefault("NotFittedError", NotFittedError)  # the first one built wins, even under threads


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `resume` is the command that continues it, from its last checkpoint if
    `checkpoint` (else from the beginning: nothing was saved yet)."""

    def __init__(self, resume: str = "", checkpoint: bool = True):
        super().__init__(resume)
        self.resume, self.checkpoint = resume, checkpoint


def quoted(path: object) -> str:
    """A path for a message or a command line: shell-quoted, with control characters escaped, so that a
    newline in a file name can neither split nor forge a line."""
    import shlex

    text = str(path)
    if text.isprintable():
        return shlex.quote(text)
    return "$'" + text.encode("unicode_escape").decode().replace("'", "\\'") + "'"  # bash's ANSI-C quoting


def inside_transform(x: "torch.Tensor") -> bool:
    """Whether tensor `x` is inside a torch.func transform (an ensemble's vmap), where its values cannot be
    read and ``out=`` arguments are not supported."""
    import torch  # x is a tensor, so torch is loaded; this module stays importable without it

    return torch._C._functorch.is_functorch_wrapped_tensor(x)


def check_tensor(x: "torch.Tensor", name: str, ndim: int | None = None, finite: bool = True) -> "torch.Tensor":
    """Validate a tensor argument of a public function; return it unchanged.

    Raises :class:`ShapeError` naming the argument, the expected and the given shape.
    """
    if ndim is not None and x.ndim != ndim:
        raise ShapeError(f"{name}: expected a {ndim}-d tensor, got shape {tuple(x.shape)}")
    # inside torch.func transforms (an ensemble's vmap) values cannot be read; the caller checks outside
    if finite and x.is_floating_point() and not inside_transform(x) and not bool(x.isfinite().all()):
        raise ShapeError(f"{name}: contains NaN or inf values")
    return x

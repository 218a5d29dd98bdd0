"""Run directories: everything about one run, written atomically so an interrupted run stays valid.

Layout::

    runs/<experiment>/<timestamp>-<shorthash>/
        config.json      experiment, preset, seed, device and the full config
        status.json      running | interrupted | failed | finished
        metrics.jsonl    one JSON record per logged step, streamed during training
        result.json      scalar metrics of the finished run, and each array's shape and dtype
        arrays.npz       its arrays (curves, matrices), by name
        claims.json      each claim with its measured value and verdict
        report.md        the claims table and figures
        figures/*.png
        checkpoints/last.pt   (torch.load(..., weights_only=True))
        checkpoints/previous.pt   the one before (stacked runs: members resume from a common round)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from brainlearn.errors import ConfigError, quoted

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give: colleagues read results as they read any file


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n").encode())


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot serialise {type(x).__name__} to JSON")


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed one raises ConfigError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bytes that are not UTF-8
        raise ConfigError(f"{quoted(path)} is not a readable JSON file ({type(e).__name__}: {e})") from None


def short_hash(obj: Any, n: int = 8) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()[:n]


class RunDir:
    """One run's folder. All writes are atomic; metrics are appended one complete line at a time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, experiment: str, header: dict[str, Any], path: str | Path | None = None
               ) -> RunDir:
        """Make ``root/<experiment>/<timestamp>-<hash>/`` (or exactly `path`, if given: sweeps name their
        points) and write its config.json from `header`."""
        if path is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(root) / experiment / f"{stamp}-{short_hash([header, time.time_ns()])}"
        run = cls(path)
        try:
            run.path.mkdir(parents=True, exist_ok=False)
            atomic_write_json(run.path / "config.json", header)
        except OSError as e:
            raise ConfigError(f"cannot create the run directory {quoted(run.path)}: {e.strerror or e}") from None
        run.set_status("running")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open an existing run directory, checking that it has a config.json."""
        run = cls(path)
        if not (run.path / "config.json").is_file():
            raise ConfigError(f"{run.path} is not a brainlearn run directory (no config.json)")
        return run

    # -- files ---------------------------------------------------------------------------------
    @property
    def header(self) -> dict[str, Any]:
        """config.json, checked to hold what a run directory's header holds."""
        header = read_json(self.path / "config.json")
        missing = [k for k in ("experiment", "seed", "config") if not isinstance(header, dict) or k not in header]
        if missing or not isinstance(header["config"], dict) or not isinstance(header["seed"], int):
            raise ConfigError(f"{quoted(self.path / 'config.json')} is not a brainlearn run header "
                              f"(needs experiment, an integer seed and a config mapping)")
        return header

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read(self, name: str, kind: type = dict) -> Any | None:
        """A JSON file of the run (None if absent); a malformed one, or one that is not a `kind`, raises
        ConfigError naming it."""
        p = self.path / name
        if not p.is_file():
            return None
        data = read_json(p)
        if not isinstance(data, kind):
            raise ConfigError(f"{quoted(p)} is malformed: expected a JSON {'object' if kind is dict else 'list'}")
        return data

    def result(self) -> dict[str, Any] | None:
        """result.json (None if absent), checked to hold a metrics mapping."""
        result = self.read("result.json")
        if result is not None and not isinstance(result.get("metrics"), dict):
            raise ConfigError(f"{quoted(self.path / 'result.json')} is malformed: no metrics mapping")
        return result

    def save_arrays(self, arrays: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Write `arrays` to arrays.npz atomically and deterministically (the same arrays give the same bytes);
        returns each array's shape and dtype, for result.json."""
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        for name, a in arrays.items():
            if a.dtype == object:
                raise ConfigError(f"result array {name!r} is ragged or holds objects; store rectangular arrays")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, a in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, a, allow_pickle=False)
        atomic_write_bytes(self.path / "arrays.npz", buf.getvalue())
        return {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}

    def load_arrays(self, specs: dict[str, Any]) -> dict[str, np.ndarray]:
        """The arrays result.json lists: from arrays.npz, checked against their recorded shapes and dtypes; or,
        in directories from before arrays.npz, the nested lists result.json itself holds."""
        if not specs or not all(isinstance(v, dict) and "shape" in v for v in specs.values()):
            return {name: np.asarray(value) for name, value in specs.items()}  # the older layout
        path = self.path / "arrays.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in specs}
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise ConfigError(f"{quoted(path)} is missing or corrupt ({type(e).__name__}: {e})") from None
        for name, spec in specs.items():
            if list(arrays[name].shape) != list(spec["shape"]) or arrays[name].dtype.str != spec.get("dtype"):
                raise ConfigError(f"{quoted(path)}: array {name!r} does not match result.json's record")
        return arrays

    def claims(self) -> list[dict[str, Any]] | None:
        """claims.json (None if absent), checked to be a list of evaluated claims."""
        claims = self.read("claims.json", list)
        if claims is not None and not all(isinstance(c, dict) and "id" in c for c in claims):
            raise ConfigError(f"{quoted(self.path / 'claims.json')} is malformed: expected evaluated claims")
        return claims

    def set_status(self, state: str, **extra: Any) -> None:
        self.write_json("status.json", {"state": state, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra})

    @property
    def status(self) -> dict[str, Any]:
        return self.read("status.json") or {"state": "unknown"}

    def lock(self) -> _DirLock:
        """Hold an exclusive OS-level lock on the directory while a run writes to it (a context manager).

        A second process that tries to run or resume the same directory gets a ConfigError. The lock is the
        kernel's (flock): it dies with its process, so a run killed hard leaves no stale lock.
        """
        return _DirLock(self.path)

    def in_use(self) -> bool:
        """Whether another process holds the directory's lock right now."""
        try:
            with self.lock():
                return False
        except ConfigError:
            return True

    def save_figure(self, name: str, figure: Figure) -> Path:
        import io

        buf = io.BytesIO()
        figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        path = self.path / "figures" / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        return path

    # -- metrics -------------------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=_jsonable) + "\n"
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(line)
            f.flush()

    def metrics(self) -> list[dict[str, Any]]:
        """All complete metric records (a torn last line from a crash is skipped)."""
        p = self.path / "metrics.jsonl"
        if not p.is_file():
            return []
        records = []
        for line in p.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def keep_metrics(self, n: int) -> None:
        """Keep only the first `n` records (those logged before the checkpoint a run resumes from)."""
        kept = self.metrics()[:n]
        atomic_write_bytes(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept).encode())

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def previous_checkpoint_path(self) -> Path:
        return self.path / "checkpoints" / "previous.pt"

    def save_checkpoint(self, state: dict[str, Any], keep_previous: bool = False) -> None:
        """Write `state` as the last checkpoint; with `keep_previous`, the last one is kept as the previous
        first (copied, so a last checkpoint exists at every moment)."""
        import io

        if keep_previous and self.checkpoint_path.is_file():
            atomic_write_bytes(self.previous_checkpoint_path, self.checkpoint_path.read_bytes())
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())

    def load_checkpoint(self, step: int | None = None) -> dict[str, Any] | None:
        """The last checkpoint (or, with `step`, whichever of the last and the previous was saved at that
        step), or None. A truncated, foreign or code-carrying file raises ConfigError."""
        if step is not None:
            for path in (self.checkpoint_path, self.previous_checkpoint_path):
                ckpt = self._load(path)
                if ckpt is not None and ckpt["step"] == step:
                    return ckpt
            raise ConfigError(f"{quoted(self.path)} has no checkpoint of step {step}")
        return self._load(self.checkpoint_path)

    def checkpoint_steps(self) -> list[int]:
        """The steps of the last and the previous checkpoint that exist, last first."""
        return [c["step"] for c in map(self._load, (self.checkpoint_path, self.previous_checkpoint_path))
                if c is not None]

    def _load(self, path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them: one line only
                warnings.simplefilter("ignore")
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many kinds; its advice (weights_only=False) is unsafe
            raise ConfigError(f"{quoted(path)} is not a trusted brainlearn checkpoint "
                              f"({type(e).__name__}); delete it to start the run again") from None
        if not isinstance(ckpt, dict) or not {"step", "state", "history"} <= set(ckpt):
            raise ConfigError(f"{quoted(path)} is not a brainlearn checkpoint; "
                              "delete it to start the run again")
        return ckpt


class _DirLock:
    def __init__(self, path: Path):
        self.path = Path(path) / ".lock"

    def __enter__(self) -> _DirLock:
        self.fd: int | None
        try:
            import fcntl
        except ImportError:  # no flock (Windows): runs are not locked
            self.fd = None
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise ConfigError(f"{quoted(self.path.parent)} is in use by another brainlearn process "
                              "(a run or resume of the same directory); wait for it to finish") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock

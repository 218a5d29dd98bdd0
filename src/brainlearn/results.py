"""Results as tables: every run under a folder as a tidy pandas DataFrame.

>>> from brainlearn import results
>>> df = results.load("runs")                                  # a run, a sweep, a verify folder or a runs root
>>> df.pivot_table(index="seed", columns="metric", values="value")

One row per (run, metric), with the run's experiment, preset, seed, device, threads and state, and one column
per config field (nested fields by dotted name, tuples as comma-separated text). Runs that have not finished
contribute no rows. ``brainlearn export DIR --format csv|parquet`` writes the same table. pandas (and pyarrow
for parquet) come with the ``tables`` extra: ``pip install 'brainlearn[tables]'``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from brainlearn.errors import ConfigError, quoted
from brainlearn.runtime.rundir import RunDir, atomic_write_bytes, read_json

RUN_COLUMNS = ["run", "experiment", "preset", "seed", "device", "threads", "state", "metric", "value"]
FORMATS = ("csv", "parquet")


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ConfigError("results tables need pandas: pip install 'brainlearn[tables]'") from None
    return pandas


#: Files only a run directory holds: a folder with one of them but no config.json is a damaged run.
RUN_FILES = ("config.json", "status.json", "result.json", "metrics.jsonl")


def run_directories(path: str | Path) -> list[Path]:
    """Every run directory at or below `path` (those holding a config.json), sorted.

    Nothing unreadable is skipped in silence: a sweep.json that is not readable JSON, or a folder holding run
    files but no config.json, raises ConfigError naming it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{quoted(path)} does not exist")
    if (path / "config.json").is_file():
        return [path]
    for spec in path.rglob("sweep.json"):
        read_json(spec)
    folders = {p.parent for name in RUN_FILES for p in path.rglob(name) if "checkpoints" not in p.parts}
    damaged = sorted(f for f in folders if not (f / "config.json").is_file())
    if damaged:
        raise ConfigError(f"{quoted(damaged[0])} holds run files but no config.json (a damaged run directory"
                          f"{f' and {len(damaged) - 1} more' if len(damaged) > 1 else ''}): repair or remove it")
    return sorted(folders)


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = ",".join(map(str, value)) if isinstance(value, list) else value
    return out


def records(path: str | Path) -> list[dict[str, Any]]:
    """The rows of :func:`load` as dicts (no pandas needed)."""
    rows = []
    for run_path in run_directories(path):
        run = RunDir(run_path)
        header, result = run.header, run.result()
        if result is None:
            continue
        common = {"run": str(run_path), "experiment": header["experiment"], "preset": header.get("preset"),
                  "seed": header["seed"], "device": header.get("device"), "threads": header.get("threads"),
                  "state": run.status.get("state")}
        config = {k: v for k, v in _flatten(header["config"]).items() if k not in RUN_COLUMNS}
        rows += [{**common, "metric": metric, "value": float(value), **config}
                 for metric, value in result["metrics"].items()]
    return rows


def load(path: str | Path):
    """A tidy DataFrame of every finished run at or below `path` (see the module docstring)."""
    pandas = _pandas()
    rows = records(path)
    frame = pandas.DataFrame(rows)
    if frame.empty:
        return pandas.DataFrame(columns=RUN_COLUMNS)
    return frame[RUN_COLUMNS + [c for c in frame.columns if c not in RUN_COLUMNS]]


#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape_formulas(frame):
    """`frame` with every text cell that a spreadsheet would run as a formula prefixed with a quote (numbers
    stay numbers)."""
    frame = frame.copy()
    for column in [c for c in frame.columns if frame[c].dtype.kind == "O"]:
        frame[column] = frame[column].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS)
                                          else v)
    return frame


def export(path: str | Path, format: str = "csv", out: str | Path | None = None) -> Path:
    """Write :func:`load`'s table of `path` as CSV or Parquet (default ``<path>/results.<format>``)."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}; expected one of {', '.join(FORMATS)}")
    frame = load(path)
    out = Path(out) if out is not None else Path(path) / f"results.{format}"
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("parquet export needs pyarrow: pip install 'brainlearn[tables]'") from None
        for column in [c for c in frame.columns if frame[c].dtype.kind == "O"]:  # mixed config columns: one type
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    buf = io.BytesIO()
    if format == "csv":
        _escape_formulas(frame).to_csv(buf, index=False)
    else:
        frame.to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    return out

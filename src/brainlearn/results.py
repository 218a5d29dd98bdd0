"""Results as tables: every run under a folder as a tidy pandas DataFrame.

>>> from brainlearn import results
>>> df = results.load("runs")                                  # a run, a sweep, a verify folder or a runs root
>>> df.pivot_table(index="seed", columns="metric", values="value")
>>> curves = results.load("runs", table="curves")             # every metrics.jsonl record, one row per value
>>> verdicts = results.load("runs", table="claims")           # every judged claim of every run

Three tables, each with the run's experiment, preset, seed, device, threads and state, and one column per
config field (nested fields by dotted name, tuples as comma-separated text):

- ``scalars`` (the default): one row per (run, final metric); runs without a result contribute no rows;
- ``curves``: one row per (run, logged step, metric) from metrics.jsonl, for learning curves;
- ``claims``: one row per (run, claim) from claims.json: measured value, criterion, verdict.

Missing values (a config field one experiment has and another lacks) are real nulls, in pandas, CSV and
Parquet. ``brainlearn export DIR --table scalars|curves|claims --format csv|parquet|tensorboard`` writes them;
TensorBoard event files (one run per run directory, the config as hparams) need the ``tensorboard`` extra.
pandas (and pyarrow for parquet) come with the ``tables`` extra: ``pip install 'brainlearn[tables]'``.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainlearn.errors import ConfigError, quoted
from brainlearn.runtime.rundir import RunDir, atomic_write_bytes, read_json

if TYPE_CHECKING:  # pandas is optional (brainlearn[tables]) and imported on use
    import pandas

RUN_COLUMNS = ["run", "experiment", "preset", "seed", "device", "threads", "state"]
TABLE_COLUMNS = {
    "scalars": ["metric", "value"],
    "curves": ["step", "metric", "value"],
    "claims": ["claim", "metric", "measured", "comparator", "threshold", "aggregate", "verdict", "gated",
               "expected"],
}
TABLES = tuple(TABLE_COLUMNS)
FORMATS = ("csv", "parquet", "tensorboard")


def _pandas() -> Any:
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


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A run header's config as one level: nested fields by dotted name, lists as comma-separated text."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= flat_config(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = ",".join(map(str, value)) if isinstance(value, list) else value
    return out


def records(path: str | Path, table: str = "scalars") -> list[dict[str, Any]]:
    """The rows of :func:`load` as dicts (no pandas needed)."""
    if table not in TABLES:
        raise ConfigError(f"unknown results table {table!r}; expected one of {', '.join(TABLES)}")
    rows = []
    for run_path in run_directories(path):
        run = RunDir(run_path)
        header = run.header
        common = {"run": str(run_path), "experiment": header["experiment"], "preset": header.get("preset"),
                  "seed": header["seed"], "device": header.get("device"), "threads": header.get("threads"),
                  "state": run.status.get("state")}
        config = {k: v for k, v in flat_config(header["config"]).items()
                  if k not in RUN_COLUMNS and k not in TABLE_COLUMNS[table]}
        rows += [{**common, **row, **config} for row in _table_rows(run, table)]
    return rows


def _table_rows(run: RunDir, table: str) -> list[dict[str, Any]]:
    if table == "scalars":
        result = run.result()
        return [] if result is None else [{"metric": k, "value": float(v)} for k, v in result["metrics"].items()]
    if table == "curves":
        return [{"step": r.get("step"), "metric": k, "value": float(v)} for r in run.metrics()
                for k, v in r.items() if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)]
    return [{"claim": c["id"], **{k: c.get(k) for k in TABLE_COLUMNS["claims"][1:]}} for c in run.claims() or []]


def load(path: str | Path, table: str = "scalars") -> pandas.DataFrame:
    """A tidy DataFrame of one of the :data:`TABLES` of every run at or below `path` (see the module docstring)."""
    pandas = _pandas()
    rows = records(path, table)
    columns = RUN_COLUMNS + TABLE_COLUMNS[table]
    frame = pandas.DataFrame(rows)
    if frame.empty:
        return pandas.DataFrame(columns=columns)
    return frame[columns + [c for c in frame.columns if c not in columns]]


#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape_formulas(frame: pandas.DataFrame) -> pandas.DataFrame:
    """`frame` with every text cell that a spreadsheet would run as a formula prefixed with a quote (numbers
    stay numbers)."""
    frame = frame.copy()
    for column in [c for c in frame.columns if frame[c].dtype.kind == "O"]:
        frame[column] = frame[column].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS)
                                          else v)
    return frame


def export(path: str | Path, format: str = "csv", out: str | Path | None = None, table: str = "scalars") -> Path:
    """Write :func:`load`'s `table` of `path` as CSV or Parquet (default ``<path>/<table>.<format>``, and
    ``results.<format>`` for the scalars), or every run's curves and scalars as TensorBoard event files under
    `out` (default ``<path>/tensorboard``)."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}; expected one of {', '.join(FORMATS)}")
    if table not in TABLES:
        raise ConfigError(f"--table {table!r}; expected one of {', '.join(TABLES)}")
    if format == "tensorboard":
        return export_tensorboard(path, out)
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("parquet export needs pyarrow: pip install 'brainlearn[tables]'") from None
    frame = load(path, table)
    name = "results" if table == "scalars" else table
    out = Path(out) if out is not None else Path(path) / f"{name}.{format}"
    buf = io.BytesIO()
    if format == "csv":
        _escape_formulas(frame).to_csv(buf, index=False)
    else:
        for column in [c for c in frame.columns if frame[c].dtype.kind == "O"]:  # mixed config columns: one type
            frame[column] = frame[column].map(lambda v: None if _missing(v) else str(v))
        frame.to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def export_tensorboard(path: str | Path, out: str | Path | None = None) -> Path:
    """Every run at or below `path` as a TensorBoard run under `out` (default ``<path>/tensorboard``): its
    metrics.jsonl curves as scalars by step, its final metrics at the last step, and its config as hparams
    (with the final metrics as the hparams' metrics), so runs overlay in the dashboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("TensorBoard export needs tensorboard: pip install 'brainlearn[tensorboard]'") from None
    root = Path(path)
    out = Path(out) if out is not None else root / "tensorboard"
    runs = run_directories(root)
    for run_path in runs:
        run = RunDir(run_path)
        header, result = run.header, run.result()
        name = str(run_path.relative_to(root)) if run_path != root else run_path.name
        target = out / name
        if target.exists():  # a rerun of the export replaces the run's events instead of doubling them
            shutil.rmtree(target)
        records_ = run.metrics()
        with SummaryWriter(log_dir=str(target)) as writer:
            for r in records_:
                for k, v in r.items():
                    if k != "step" and isinstance(v, int | float) and not isinstance(v, bool):
                        writer.add_scalar(k, float(v), int(r.get("step", 0)))
            final = {k: float(v) for k, v in (result or {}).get("metrics", {}).items()}
            last = max((int(r.get("step", 0)) for r in records_), default=0)
            for k, v in final.items():
                writer.add_scalar(f"final/{k}", v, last)
            hparams = {"experiment": header["experiment"], "preset": str(header.get("preset")),
                       "seed": header["seed"], **{k: (v if isinstance(v, int | float | str | bool) else str(v))
                                                 for k, v in flat_config(header["config"]).items()}}
            writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in final.items()}, run_name=".")
    return out

"""The IDX file format of MNIST and Fashion-MNIST (gzipped or not): read and write."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from brainlearn.errors import DataError

_DTYPES: dict[int, np.dtype | type[np.generic]] = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into an array of the shape its header gives."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # a .gz that is not gzip, or a truncated one
        raise DataError(f"{str(path)!r}: cannot be read as {'gzipped ' * (opener is gzip.open)}IDX ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{str(path)!r}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise DataError(f"{str(path)!r}: unknown IDX data type 0x{code:02x}")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{str(path)!r}: truncated IDX header ({len(data)} bytes for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[code])
    body_bytes = len(data) - 4 - 4 * ndim
    count = 1
    for d in dims:  # Python integers: a product of large header dims cannot overflow and pass the check
        count *= d
    if body_bytes % dtype.itemsize or body_bytes // dtype.itemsize != count:
        raise DataError(f"{str(path)!r}: header says shape {dims} ({count} values of {dtype.itemsize} bytes) "
                        f"but the file body has {body_bytes} bytes")
    body = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    try:
        return body.reshape(dims).astype(dtype.newbyteorder("="), copy=False)
    except ValueError as e:  # an empty array whose other dimensions are absurdly large
        raise DataError(f"{str(path)!r}: header shape {dims} is not a valid array shape ({e})") from None


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` (uint8 or int8/16/32, float32/64) as an IDX file; gzip if the name ends in .gz."""
    array = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
            np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + body)

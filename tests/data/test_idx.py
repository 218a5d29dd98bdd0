
import numpy as np
import pytest

from brainlearn.data.idx import read_idx, write_idx
from brainlearn.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_roundtrip(tmp_path, dtype, name):
    x = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    write_idx(tmp_path / name, x)
    y = read_idx(tmp_path / name)
    assert y.dtype == dtype and np.array_equal(x, y)


def test_idx_rejects_garbage(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04xxxx")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")

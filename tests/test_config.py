from dataclasses import dataclass
from typing import Literal

import pytest

from brainlearn.errors import ConfigError
from brainlearn.runtime import apply_overrides, config_from_dict, config_to_dict, require


@dataclass(frozen=True)
class Cfg:
    n: int = 1
    lr: float = 0.1
    flag: bool = False
    name: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (3, 4)
    root: str | None = None

    def __post_init__(self):
        require(self.n >= 1, f"n must be >= 1, got {self.n}")


def test_overrides_are_typed():
    c = apply_overrides(Cfg(), ["n=3", "lr=1e-3", "flag=true", "name=b", "sizes=5,6,7", "root=/x"])
    assert c == Cfg(3, 1e-3, True, "b", (5, 6, 7), "/x")
    assert apply_overrides(c, ["root=none"]).root is None


@pytest.mark.parametrize("item, message", [
    ("m=1", "unknown config key 'm'"), ("n=x", "expected int"), ("flag=maybe", "expected a boolean"),
    ("name=c", "expected one of a, b"), ("n", "expected key=value"), ("n=0", "n must be >= 1"),
    ("sizes=1,x", "expected int"),
])
def test_bad_overrides(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Cfg(), [item])


def test_roundtrip_through_json():
    c = Cfg(sizes=(1, 2))
    assert config_from_dict(Cfg, config_to_dict(c)) == c
    with pytest.raises(ConfigError, match="unknown keys"):
        config_from_dict(Cfg, {"zzz": 1})

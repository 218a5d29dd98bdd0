"""Sequence tasks of the cortico-cerebellar RNN paper (Pemberton et al. 2021): line drawing, online line
and digit drawing and classification from images read row by row, and captioning.

Shapes follow the library's convention: inputs (batch, time, features), targets (batch, time, out).
Every generator takes an explicit ``torch.Generator``.

- :func:`line_drawing`: a cue at t = 0 selects one of `n_cues` straight lines from the origin (one stays
  at the origin, the others end on a circle of radius 10), drawn linearly over T steps.
- :func:`image_rows`: an image (N, C, H, W) as a sequence of H rows of C*W pixels.
- :func:`line_targets` / :func:`digit_templates`: per-class drawing targets for the online drawing tasks
  (a straight line to one of 10 circle points; a digit-shaped path through a 3 x 3 grid).
- :func:`scene_captions`: a procedural captioning task (images of coloured shapes with generated
  sentences over a small vocabulary); :func:`load_caption_features` reads precomputed image features and
  COCO-format caption JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainlearn.errors import ConfigError, DataError, ShapeError, check_tensor


# ---- line drawing ------------------------------------------------------------------------------------
def circle_points(n_points: int, radius: float = 10.0, origin: bool = True) -> torch.Tensor:
    """End points (n_points, 2): with `origin`, the first is (0, 0) and the others are evenly spaced on the
    circle, (sin a, cos a) · radius for a = 0, 2π/(n−1), ...; otherwise all n lie on the circle."""
    if n_points < 1 or (origin and n_points < 2):
        raise ConfigError(f"circle_points: need at least {2 if origin else 1} points, got {n_points}")
    n_circle = n_points - 1 if origin else n_points
    a = torch.arange(n_circle, dtype=torch.float64) * (2 * math.pi / n_circle)
    ring = radius * torch.stack([a.sin(), a.cos()], dim=1)
    pts = torch.cat([torch.zeros(1, 2, dtype=torch.float64), ring]) if origin else ring
    return pts.float()


def straight_lines(ends: torch.Tensor, T: int) -> torch.Tensor:
    """Paths (n, T, 2) from the origin to `ends` (n, 2), linear in time, reaching the end at t = T−1."""
    frac = torch.linspace(0.0, 1.0, T) if T > 1 else torch.ones(1)
    return frac[None, :, None] * ends[:, None, :]


def line_drawing(n: int, T: int = 10, n_cues: int = 7, radius: float = 10.0, noise: float = 0.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The line-drawing task: a cue at t = 0 selects which line to draw.

    Cue k ∈ {−(n_cues//2), ..., n_cues//2} (n_cues odd) is given as the value 0.1·k at t = 0 and zeros
    after (plus Gaussian input noise of std `noise` from t = 1, 0 in the paper); cue 0 draws "stay at the
    origin", the others a straight line to their point on the circle.

    Returns x (n, T, 1), y (n, T, 2) and the cue class (n,) in 0..n_cues−1.
    """
    if n < 1 or T < 2 or n_cues < 2 or n_cues % 2 == 0:
        raise ConfigError(f"line_drawing: need n >= 1, T >= 2 and an odd n_cues >= 3, got n={n}, T={T}, "
                          f"n_cues={n_cues}")
    label = torch.randint(0, n_cues, (n,), generator=generator)
    x = torch.zeros(n, T, 1)
    x[:, 0, 0] = 0.1 * (label - n_cues // 2).float()
    if noise > 0:
        x[:, 1:] += noise * torch.randn(n, T - 1, 1, generator=generator)
    # class order: cue 0 (the middle class) stays at the origin; the others take the circle points in turn
    mid = n_cues // 2
    index = torch.where(label == mid, 0, torch.where(label < mid, label + 1, label))
    return x, straight_lines(circle_points(n_cues, radius), T)[index], label


def target_mask(T: int, every: int) -> torch.Tensor:
    """Steps that carry a target: t % every == 0 (sparse feedback; every = 1 is dense). Bool (T,)."""
    if every < 1:
        raise ConfigError(f"target interval must be >= 1, got {every}")
    return torch.arange(T) % every == 0


def trajectory_irregularity(y: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """The dysmetria ("ataxia") score: mean squared second difference of drawn paths y (batch, T, d),
    ‖y_{t+1} − 2y_t + y_{t−1}‖² averaged over t and the batch. Straight lines drawn at constant speed
    score 0.

    `centres`: optional bool mask (T,) of the steps t whose second difference is averaged (only the
    interior steps 1..T-2 have one; e.g. ``target_mask(T, every)`` or its negation, to split the score
    between the steps with feedback and those without). Default: every interior step.
    """
    check_tensor(y, "y", ndim=3)
    T = y.shape[1]
    if T < 3:
        raise ShapeError(f"trajectory_irregularity: need at least 3 time steps, got {T}")
    squared = (y[:, 2:] - 2 * y[:, 1:-1] + y[:, :-2]).pow(2).sum(-1)  # centred on t = 1..T-2
    if centres is None:
        return squared.mean()
    if centres.shape != (T,) or centres.dtype != torch.bool:
        raise ShapeError(f"centres: expected a bool mask of shape ({T},), got {centres.dtype} {tuple(centres.shape)}")
    interior = centres[1:-1].to(y.device)
    if not bool(interior.any()):
        raise ShapeError("centres: selects no interior step (1..T-2)")
    return squared[:, interior].mean()


# ---- image rows --------------------------------------------------------------------------------------
def image_rows(images: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) as sequences of their rows: (N, H, C*W), one row per step."""
    check_tensor(images, "images", ndim=4)
    n, c, h, w = images.shape
    return images.permute(0, 2, 1, 3).reshape(n, h, c * w)


def line_targets(labels: torch.Tensor, T: int, n_classes: int = 10, radius: float = 10.0) -> torch.Tensor:
    """Online line drawing: class k draws a straight line to the k-th of `n_classes` circle points,
    (N, T, 2)."""
    ends = circle_points(n_classes, radius, origin=False)
    return straight_lines(ends, T)[labels]


# Digit-shaped strokes through a 3 x 3 grid (column, row), row 0 at the top, in the unit square.
DIGIT_STROKES = {
    0: [(0, 0), (2, 0), (2, 2), (0, 2), (0, 0)],
    1: [(0, 1), (1, 0), (1, 2)],
    2: [(0, 0), (2, 0), (2, 1), (0, 2), (2, 2)],
    3: [(0, 0), (2, 0), (1, 1), (2, 2), (0, 2)],
    4: [(0, 0), (0, 1), (2, 1), (2, 0), (2, 2)],
    5: [(2, 0), (0, 0), (0, 1), (2, 1), (2, 2), (0, 2)],
    6: [(2, 0), (0, 0), (0, 2), (2, 2), (2, 1), (0, 1)],
    7: [(0, 0), (2, 0), (1, 1), (1, 2)],
    8: [(0, 1), (0, 0), (2, 0), (0, 2), (2, 2), (2, 1), (0, 1)],
    9: [(2, 1), (0, 1), (0, 0), (2, 0), (2, 2)],
}


def digit_templates(T: int, scale: float = 1.0) -> torch.Tensor:
    """Digit-drawing targets (10, T, 2): each digit's stroke (a piecewise-linear path through 3 x 3 grid
    points of the unit square, y pointing up) resampled to T points equally spaced along its length."""
    out = []
    for d in range(10):
        pts = torch.tensor(DIGIT_STROKES[d], dtype=torch.float64) / 2.0
        pts[:, 1] = 1.0 - pts[:, 1]
        seg = (pts[1:] - pts[:-1]).norm(dim=1)
        cum = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)])
        s = torch.linspace(0, float(cum[-1]), T, dtype=torch.float64)
        i = torch.searchsorted(cum, s, right=True).clamp(1, len(pts) - 1) - 1
        w = ((s - cum[i]) / seg[i]).clamp(0, 1)[:, None]
        out.append(pts[i] + w * (pts[i + 1] - pts[i]))
    return (scale * torch.stack(out)).float()


# ---- captions ----------------------------------------------------------------------------------------
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


@dataclass
class CaptionData:
    """Image features with tokenised captions.

    Attributes:
        features: (N, D) float32, one row per caption (features of its image).
        tokens: (N, L) int64, ``<start> w_1 .. w_n <end> <pad>...``.
        lengths: (N,) number of real tokens (start and end included).
        vocab: list of words; index = token id (``vocab[0]`` is ``<pad>``).
    """

    features: torch.Tensor
    tokens: torch.Tensor
    lengths: torch.Tensor
    vocab: list[str]

    def __len__(self) -> int:
        return len(self.tokens)

    def decode(self, ids: torch.Tensor | Iterable[int]) -> str:
        words = [self.vocab[int(i)] for i in ids]
        return " ".join(w for w in words if w not in SPECIALS)


def _tokenise(caption: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", caption.lower())


def _encode(captions: list[list[str]], vocab: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = {w: i for i, w in enumerate(vocab)}
    tokens = torch.zeros(len(captions), max_len, dtype=torch.int64)
    lengths = torch.zeros(len(captions), dtype=torch.int64)
    for n, words in enumerate(captions):
        ids = [index[START]] + [index.get(w, index[UNK]) for w in words][:max_len - 2] + [index[END]]
        tokens[n, :len(ids)] = torch.tensor(ids)
        lengths[n] = len(ids)
    return tokens, lengths


SHAPES, COLOURS = ("square", "circle", "triangle", "cross"), ("red", "green", "blue", "yellow")
PLACES = ("left", "right", "top", "bottom")
SIZES = ("small", "big")
_RGB = torch.tensor([[1.0, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 1.0], [0.9, 0.9, 0.1]])


def _shape_mask(shape: str, size: int, res: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    c = (res - 1) / 2
    r = size / 2
    if shape == "square":
        return ((xx - c).abs() <= r) & ((yy - c).abs() <= r)
    if shape == "circle":
        return (xx - c) ** 2 + (yy - c) ** 2 <= r ** 2
    if shape == "triangle":
        return (yy - c <= r) & (yy - c >= -r) & ((xx - c).abs() <= (yy - c + r) / 2)
    return (((xx - c).abs() <= r / 3) & ((yy - c).abs() <= r)) | (((yy - c).abs() <= r / 3) & ((xx - c).abs() <= r))


def scene_captions(n: int, resolution: int = 16, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, CaptionData]:
    """A procedural captioning task: images (n, 3, 2·res, 2·res) holding two coloured shapes in two of the
    four places (left/right/top/bottom half-centres), with captions such as
    "a small red square on the left and a big blue circle on the right".

    The vocabulary is small (18 words + 4 special tokens); captions have 15 words + start/end.
    ``CaptionData.features``
    are the flattened pixels (a user can swap in any feature extractor).
    Returns (images, captions).
    """
    if n < 1 or resolution < 6:
        raise ConfigError(f"scene_captions: need n >= 1 and resolution >= 6, got n={n}, resolution={resolution}")
    res = resolution
    size = torch.tensor([res * 0.35, res * 0.75])
    offsets = {"left": (res // 2, 0), "right": (res // 2, res), "top": (0, res // 2), "bottom": (res, res // 2)}
    images = torch.zeros(n, 3, 2 * res, 2 * res)
    shape = torch.randint(0, len(SHAPES), (n, 2), generator=generator)
    colour = torch.randint(0, len(COLOURS), (n, 2), generator=generator)
    big = torch.randint(0, 2, (n, 2), generator=generator)
    place = torch.stack([torch.randperm(len(PLACES), generator=generator)[:2] for _ in range(n)])
    masks = {(s, b): _shape_mask(SHAPES[s], int(size[b]), res) for s in range(len(SHAPES)) for b in range(2)}
    captions = []
    for i in range(n):
        words = []
        for j in range(2):
            s, c, b, p = (int(v[i, j]) for v in (shape, colour, big, place))
            r0, c0 = offsets[PLACES[p]]
            r0, c0 = min(r0, res), min(c0, res)
            images[i, :, r0:r0 + res, c0:c0 + res] += masks[(s, b)] * _RGB[c][:, None, None]
            words += (["a"] if j == 0 else ["and", "a"]) + [SIZES[b], COLOURS[c], SHAPES[s], "on", "the",
                                                             PLACES[p]]
        captions.append(words)
    images = images.clamp(0, 1)
    vocab = list(SPECIALS) + sorted({w for ws in captions for w in ws})
    tokens, lengths = _encode(captions, vocab, max_len=max(len(c) for c in captions) + 2)
    return images, CaptionData(images.flatten(1), tokens, lengths, vocab)


def load_caption_features(features: str | Path, captions_json: str | Path, *, min_count: int = 5,
                          max_len: int = 20, vocab: list[str] | None = None) -> CaptionData:
    """Precomputed image features + COCO-format captions (e.g. ResNet-152 features of COCO 2014).

    Args:
        features: a ``.npz`` with arrays ``ids`` (N,) image ids and ``features`` (N, D), or a ``.pt`` file
            holding a dict with the same two keys.
        captions_json: COCO caption annotations, ``{"annotations": [{"image_id": .., "caption": ".."}]}``.
        min_count: words seen fewer times become ``<unk>`` (when building the vocabulary).
        max_len: captions are cut to max_len tokens including start/end.
        vocab: reuse a vocabulary (e.g. the training split's) instead of building one.
    """
    features, captions_json = Path(features), Path(captions_json)
    for path in (features, captions_json):
        if not path.exists():
            raise DataError(f"caption data: file {path} does not exist")
    if features.suffix == ".npz":
        with np.load(features) as f:
            ids, feats = f["ids"], f["features"]
    elif features.suffix == ".pt":
        blob = torch.load(features, weights_only=True)
        ids, feats = np.asarray(blob["ids"]), np.asarray(blob["features"])
    else:
        raise DataError(f"caption data: features must be .npz or .pt, got {features.name}")
    if feats.ndim != 2 or len(ids) != len(feats):
        raise DataError(f"caption data: expected ids (N,) and features (N, D), got {ids.shape} and {feats.shape}")
    try:
        annotations = json.loads(captions_json.read_text())["annotations"]
        pairs = [(int(a["image_id"]), _tokenise(a["caption"])) for a in annotations]
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"caption data: {captions_json} is not COCO caption JSON ({e})") from None
    row = {int(i): r for r, i in enumerate(ids)}
    pairs = [(row[i], words) for i, words in pairs if i in row]
    if not pairs:
        raise DataError("caption data: no caption's image_id has features")
    if vocab is None:
        counts = Counter(w for _, ws in pairs for w in ws)
        vocab = list(SPECIALS) + sorted(w for w, c in counts.items() if c >= min_count)
    tokens, lengths = _encode([ws for _, ws in pairs], vocab, max_len)
    rows = torch.tensor([r for r, _ in pairs])
    return CaptionData(torch.as_tensor(feats, dtype=torch.float32)[rows], tokens, lengths, list(vocab))

"""What the generalisation experiments share: the data config, the model config (the family and one nested
config per family: ``--set model.kind=factor-vae model.factor_vae.gamma=10``), splits into train / ID-test /
held-out, model training (one job per (split, model, replicate)) and the evaluation of a trained model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from brainlearn.analysis.disentanglement import (
    best_iou_match,
    latent_landing,
    probe_transfer,
    readout,
    reconstruction_loss,
)
from brainlearn.data.factors import ColourDSprites, DSprites, FactorDataset
from brainlearn.data.splits import get_split, split_masks
from brainlearn.models.generative import (
    MODELS,
    AEConfig,
    CCIVAEConfig,
    FactorVAEConfig,
    GenerativeConfig,
    Trainer,
    VAEConfig,
    WAEConfig,
    build_model,
)
from brainlearn.runtime import Config, isolated_rng, make_generator, param, place, replicate_seed, require

DATASETS = ("dsprites-lite", "dsprites", "colour-dsprites-lite")
CALIBRATED_STEPS = 1500  # the budget of the criteria; below it the R2R BCE ratio has not yet grown to 1.3
# the paper's training: 66 epochs of batch 64 (Adam 5e-4, the defaults) over the 614,400 images R2R trains on
PAPER_STEPS = 66 * 614_400 // 64
# the shape-transfer claims (generalisation-dsprites, generalisation-diagnosis)
TRANSFER_HOW = ("shape_transfer = (held-out accuracy - 1/3) / (accuracy on ID squares - 1/3) of a logistic "
                "regression on latent means; NaN unless the ID accuracy beats chance by 0.1")
TRANSFER_NAN = ("*shape_transfer", "*shape_probe_matched")  # Experiment.nan_metrics of the transfer claims' metrics
# the VAE's latents read squares at or below chance in distribution at 1,000 and 1,500 steps: transfer undefined
TRANSFER_NOTE = "docs/experiments/generalisation.md#known-non-reproduction-shape-transfer-is-undefined"
TRANSFER_CLAIMS = ("r2r-shape-transfer", "r2e-small-shape-transfer", "vae-encoder-transfer")
TRANSFER_REASON = ("0.5 is the midpoint between no transfer (0, chance) and full transfer (1, as on seen squares), "
                   "set before any run of this measure; it replaced r2r-shape-probe (held-out accuracy <= 0.1), "
                   "which also read 0 where the probe reads squares at or below chance in distribution")


@dataclass(frozen=True)
class ModelConfig(Config):
    """One generative model and its training: `kind` picks the family, whose nested config (``ae``, ``vae``,
    ``cci_vae``, ``factor_vae``, ``wae_mmd``) sets its architecture, latent size and loss weights."""

    kind: Literal["ae", "vae", "cci-vae", "factor-vae", "wae-mmd"] = param("vae", help="the model family")
    ae: AEConfig = AEConfig()
    vae: VAEConfig = VAEConfig()
    cci_vae: CCIVAEConfig = CCIVAEConfig()
    factor_vae: FactorVAEConfig = FactorVAEConfig()
    wae_mmd: WAEConfig = WAEConfig()
    steps: int = param(1500, ge=1, help="training steps")
    batch_size: int = param(64, ge=2, help="images per step (FactorVAE: twice as many, half for its discriminator)")
    lr: float = param(5e-4, gt=0, help="Adam learning rate")

    # the old flat keys; arch and latent were every family's, and go to the default family's config
    renamed = {"arch": "vae.arch", "latent": "vae.n_latent", "beta": "vae.beta", "tc_gamma": "factor_vae.gamma",
               "capacity_gamma": "cci_vae.gamma", "capacity": "cci_vae.c_max", "capacity_steps": "cci_vae.c_steps",
               "lam": "wae_mmd.lam"}

    def __post_init__(self):
        super().__post_init__()
        require(self.family.n_latent >= 2, f"model.{self.kind.replace('-', '_')}.n_latent must be >= 2 here: the "
                "evaluation maps the latents onto two principal components")

    @property
    def family(self) -> GenerativeConfig:
        """The config of the chosen family (`kind`)."""
        return getattr(self, self.kind.replace("-", "_"))


@dataclass(frozen=True)
class DataConfig(Config):
    """The factor dataset, its resolution and the in-distribution test fraction."""

    dataset: Literal["dsprites-lite", "dsprites", "colour-dsprites-lite"] = "dsprites-lite"
    size: int = param(32, ge=16, help="image side in pixels")
    id_fraction: float = param(0.1, gt=0, lt=1, help="share of the non-held-out images kept as ID test")
    max_eval: int = param(2000, ge=10, help="most images per evaluation set (a random subset beyond)")


assert len(MODELS) == 5  # the Literal list of ModelConfig.kind mirrors it


def make_dataset(config: DataConfig) -> FactorDataset:
    """dSprites-lite: 3 shapes x scale {0.75, 1} x orientation 0 x 16 x 16 positions (1,536 images)."""
    lite = {"scale": (0.75, 1.0), "orientation": (0.0,), "posX": tuple(np.linspace(0, 1, 16)),
            "posY": tuple(np.linspace(0, 1, 16))}
    if config.dataset == "dsprites-lite":
        return DSprites(config.size, **lite)
    if config.dataset == "colour-dsprites-lite":
        return ColourDSprites(config.size, hues=(0.0, 0.25, 0.5, 0.75), **{**lite, "scale": (1.0,)})
    return DSprites(config.size)


def parse_split(spec: str, dataset: str) -> tuple[str, str]:
    """``"condition/variant"`` checked against the registry."""
    condition, _, variant = spec.partition("/")
    get_split("colour-dsprites" if dataset.startswith("colour") else "dsprites", condition, variant)
    return condition, variant


def partition(ds: FactorDataset, split: str, data: DataConfig, seed: int, replicate: int
              ) -> dict[str, np.ndarray]:
    """Indices of the training, ID-test and held-out images of `split` (a random `id_fraction` of the
    non-held-out images is the ID test; sets above `max_eval` images are subsampled for evaluation)."""
    condition, variant = parse_split(split, data.dataset)
    train, test = split_masks(ds, condition, variant)
    g = make_generator(replicate_seed(seed, replicate, stream="test"))
    pool = np.nonzero(train)[0]
    perm = pool[torch.randperm(len(pool), generator=g).numpy()]
    n_id = max(1, int(round(data.id_fraction * len(pool))))
    held = np.nonzero(test)[0]
    cap = lambda a: np.sort(a[torch.randperm(len(a), generator=g).numpy()[: data.max_eval]])  # noqa: E731
    return {"train": np.sort(perm[n_id:]), "id": cap(perm[:n_id]), "heldout": cap(held)}


def fit_generative(ds: FactorDataset, train_idx: np.ndarray, m: ModelConfig, seed: int, replicate: int,
                   device: str) -> Trainer:
    """A generative model trained on the training images: weights from stream ``init``, batches from
    ``batches``, posterior and prior noise from ``noise`` of replicate `replicate`."""
    with isolated_rng(replicate_seed(seed, replicate, "init")):
        model = build_model(m.kind, ds.image_shape, m.family)
    trainer = Trainer(place(model, torch.device(device)), lr=m.lr)
    order = make_generator(replicate_seed(seed, replicate, "batches"))
    noise = make_generator(replicate_seed(seed, replicate, "noise"))
    x = ds.images(train_idx).to(device)
    bs = m.batch_size * (2 if m.kind == "factor-vae" else 1)
    for _ in range(m.steps):
        trainer.step(x[torch.randint(0, len(x), (bs,), generator=order).to(device)], noise)
    return trainer


@torch.no_grad()
def encode_all(model, x: torch.Tensor, batch: int = 512) -> tuple[np.ndarray, torch.Tensor]:
    model.eval()
    z = torch.cat([model.encode(xb) for xb in x.split(batch)])
    logits = torch.cat([model.decode(zb) for zb in z.split(batch)])
    return z.cpu().numpy(), logits


def shape_of(ds: FactorDataset) -> int:
    return ds.factor_index("shape")


@torch.no_grad()
def evaluate(model, ds: FactorDataset, sets: dict[str, np.ndarray], device: str) -> tuple[dict, dict]:
    """Reconstruction BCE, decoded-factor accuracy (best-IoU match in the whole grid), readouts of shape
    (logistic) and posX (linear: R^2 and signed bias), and where held-out encodings land."""
    s, px = shape_of(ds), ds.factor_index("posX")
    metrics, z, cls = {}, {}, {}
    for name, idx in sets.items():
        if name == "train":                       # readouts are fitted on at most 20,000 training images
            idx = idx[:: max(1, len(idx) // 20_000)]
        x = ds.images(idx).to(device)
        z[name], logits = encode_all(model, x)
        cls[name] = ds.classes_of(idx)
        metrics[f"bce_{name}"] = float(reconstruction_loss(logits, x).mean())
        if name != "train":
            best, _ = best_iou_match(torch.sigmoid(logits) > 0.5, ds.images_uint8, len(ds), device=device)
            match = ds.classes_of(best)
            metrics[f"decoded_shape_{name}"] = float((match[:, s] == cls[name][:, s]).mean())
            metrics[f"decoded_posx_{name}"] = float((np.abs(match[:, px] - cls[name][:, px]) <= 1).mean())
            if name == "heldout":
                pick = np.unique(np.linspace(0, len(idx) - 1, 8).astype(np.int64))   # spread over the set
                recon = (torch.sigmoid(logits[pick]) > 0.5).any(1).cpu().numpy()    # any channel on
    metrics["bce_ratio"] = metrics["bce_heldout"] / metrics["bce_id"]
    metrics["decoded_shape_gap"] = metrics["decoded_shape_id"] - metrics["decoded_shape_heldout"]
    evals = {k: (z[k], cls[k][:, s]) for k in ("id", "heldout")}
    same = np.isin(cls["id"][:, s], cls["heldout"][:, s])  # ID images of the held-out shape(s)
    if same.any():
        evals["matched"] = (z["id"][same], cls["id"][same, s])
    metrics["shape_probe_matched"] = float("nan")            # no ID image of that shape: nothing to compare
    for k, v in readout(z["train"], cls["train"][:, s], evals, kind="logistic").items():
        metrics[f"shape_probe_{k}"] = v["accuracy"]
    metrics["shape_transfer"] = probe_transfer(metrics["shape_probe_heldout"], metrics["shape_probe_matched"],
                                               chance=1 / len(np.unique(cls["train"][:, s])))
    pos = {k: (z[k], ds.values_of(cls[k])[:, px]) for k in ("id", "heldout")}
    for k, v in readout(z["train"], ds.values_of(cls["train"])[:, px], pos).items():
        metrics[f"posx_r2_{k}"], metrics[f"posx_bias_{k}"] = v["r2"], v["bias"]
    land = latent_landing(z["train"], cls["train"][:, s], z["heldout"], cls["heldout"][:, s])
    metrics["landing_nn_match"], metrics["landing_centroid_match"] = land["nn_match"], land["centroid_match"]
    arrays = {"targets": ds.images_uint8(sets["heldout"][pick]).max(1) > 0, "recons": recon,
              "landing_classes": np.asarray(land["nn_classes"]),
              **_latent_map(z["train"], cls["train"][:, s], z["heldout"]), "traversal": _traversal(model, z["train"])}
    return metrics, arrays


def _latent_map(z_train: np.ndarray, c_train: np.ndarray, z_held: np.ndarray, n: int = 400) -> dict:
    """The two leading principal components of the training encodings, with held-out ones projected."""
    mu = z_train.mean(0)
    _, _, vt = np.linalg.svd(z_train - mu, full_matrices=False)
    step = max(1, len(z_train) // n)
    return {"map_train": (z_train[::step] - mu) @ vt[:2].T, "map_train_shape": c_train[::step],
            "map_heldout": (z_held[:n] - mu) @ vt[:2].T}


@torch.no_grad()
def _traversal(model, z_train: np.ndarray, n_dims: int = 5, n_steps: int = 7) -> np.ndarray:
    """Decoded images ``(n_dims, n_steps, H, W)`` moving each of the `n_dims` most active latents from
    -2 to +2 standard deviations about the mean training code."""
    sd = z_train.std(0)
    dims = np.argsort(-sd)[:n_dims]
    base = torch.as_tensor(z_train.mean(0), dtype=torch.float32)
    zs = base.repeat(len(dims) * n_steps, 1)
    for a, d in enumerate(dims):
        zs[a * n_steps:(a + 1) * n_steps, d] = base[d] + torch.linspace(-2, 2, n_steps) * float(sd[d])
    device = next(model.parameters()).device
    imgs = torch.sigmoid(model.decode(zs.to(device))).amax(1).cpu().numpy()
    return imgs.reshape(len(dims), n_steps, *imgs.shape[1:])


def show_images(ax, rows: list[np.ndarray], title: str) -> None:
    """Rows of equally sized images tiled into one panel (with 1-pixel gaps)."""
    h, w = rows[0][0].shape
    tile = np.ones((len(rows) * (h + 1), max(len(r) for r in rows) * (w + 1)))
    for i, r in enumerate(rows):
        for j, im in enumerate(r):
            tile[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = 1 - im
    ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)

"""The cortico-cerebellar RNN (ccRNN; Pemberton, Boven, Apps & Costa, NeurIPS 2021, arXiv:2110.11501).

The cerebral cortex is a recurrent network (an LSTM, state s_t = [h_t; c_t]) with a linear readout,
trained by truncated BPTT: credit flows back only K steps (the "cerebral feedback horizon"). The
cerebellum is a feedforward network (ReLU MLP; the last layer starts at zero) that receives the cortical
state through mossy fibres and predicts the future feedback, g(s) ≈ ∂(future loss)/∂s. Its prediction is
sent back to the cortex at the end of each window, scaled by β:

    Δθ ∝ ∂L_i/∂θ + β · g(s_{i+1}) · ∂s_{i+1}/∂θ                  (cortex, window i)
    δ_i = ∂L_i/∂s_i + γ · g(s_{i+1}) · ∂s_{i+1}/∂s_i             (inferior-olive teaching signal)
    Δφ ∝ −∇_φ ‖g_φ(s_i) − δ_i‖² / B                                (cerebellum)

with γ = β in the reference code (see :mod:`brainlearn.rules.sg_rnn`). This is a decoupled neural interface
(DNI, Jaderberg et al. 2017) for RNNs. The cerebellum only shapes learning: at test time the cortex runs
alone. Without a cerebellum the same class is the "cerebral RNN" (cRNN) baseline; with K ≥ T it is full
BPTT.

Measures used by the paper's figures live here too: task MSE, the dysmetria score (trajectory
irregularity, :func:`brainlearn.data.sequences.trajectory_irregularity`), the cosine between the
cerebellum's output and the true future gradient, classification certainty and bits per word; and the
captioning model (:class:`CaptionModel`: image features set the cortex's initial state).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.analysis import cosine
from brainlearn.errors import ShapeError, check_tensor
from brainlearn.nn import Synthesiser, SynthesiserConfig
from brainlearn.rules.sg_rnn import SGStats, SyntheticGradientRNN, SyntheticGradientRNNConfig, WindowLoss
from brainlearn.runtime.config import param

CELL_TYPES = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "tanh": nn.RNNCell}


@dataclass(frozen=True)
class CorticoCerebellarRNNConfig(SyntheticGradientRNNConfig):
    """The cortex (its sizes and cell), the cerebellum's widths, and the truncation and synthetic gradient
    (K = `window`, β = `sg_scale`, γ = `bootstrap_discount`; see :class:`SyntheticGradientRNNConfig`)."""

    n_in: int = param(1, ge=1, help="per-step input width (an experiment sets it from its task)")
    n_out: int = param(2, ge=1, help="per-step output width (an experiment sets it from its task)")
    n_hidden: int = param(50, ge=1, help="cortical units n (the LSTM state [h; c] has 2n values)")
    cerebellum: tuple[int, ...] | None = param((400, 400), ge=1, help="hidden widths of the cerebellar MLP "
                                               "(empty: linear; none: no cerebellum, the cRNN)")
    cell: Literal["lstm", "gru", "tanh"] = param("lstm", help="the cortex's cell (the paper's is an LSTM)")


class CorticoCerebellarRNN(SyntheticGradientRNN):
    """Cortex (RNN cell + linear readout) with an optional cerebellum (synthesiser of future feedback).

    Args:
        config: sizes, cell, cerebellum and the truncation (see :class:`CorticoCerebellarRNNConfig`);
            ``cerebellum=None`` removes the cerebellum (the cRNN, i.e. plain truncated BPTT).
        encoder: optional input module (e.g. a word embedding), see :class:`SyntheticGradientRNN`.
        generator: torch.Generator for all initial weights (PyTorch's default uniform ranges).
    """

    def __init__(self, config: CorticoCerebellarRNNConfig, *, encoder: nn.Module | None = None,
                 generator: torch.Generator | None = None):
        core = CELL_TYPES[config.cell](config.n_in, config.n_hidden)
        state_dim = config.n_hidden * (2 if config.cell == "lstm" else 1)
        synth = None if config.cerebellum is None else Synthesiser(SynthesiserConfig(state_dim, config.cerebellum))
        super().__init__(config, core, nn.Linear(config.n_hidden, config.n_out), synth, encoder=encoder)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """U(−1/√fan_in, 1/√fan_in) for every weight and bias (PyTorch's defaults, drawn from `generator`),
        except the cerebellum's output layer, which stays at zero (so ccRNN starts as the cRNN)."""
        cell = self.core.cell
        bound = 1 / math.sqrt(cell.hidden_size)
        for p in cell.parameters():
            p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
        layers = [self.readout] + (list(self.synthesiser.layers[:-1]) if self.synthesiser is not None else [])
        if self.synthesiser is not None and self.synthesiser.context is not None:
            layers.append(self.synthesiser.context)
        for layer in layers:
            bound = 1 / math.sqrt(layer.in_features)
            for p in layer.parameters():
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)

    @property
    def cerebellum(self) -> nn.Module | None:
        return self.synthesiser

    def lesion_cerebellum(self) -> None:
        """Stop sending the cerebellum's output to the cortex (the cortex keeps learning by truncated BPTT)."""
        self.inject_sg = False

    def lesion_inferior_olive(self) -> None:
        """Freeze the cerebellum (no teaching signal) but keep sending its output to the cortex."""
        self.learn_sg = False


@dataclass(frozen=True)
class CaptionModelConfig(SyntheticGradientRNNConfig):
    """The captioner's sizes, its cerebellum and its cortex's truncation (an LSTM cortex, see
    :class:`CorticoCerebellarRNNConfig`)."""

    n_features: int = param(1, ge=1, help="width of the image features (an experiment sets it from its data)")
    n_vocab: int = param(2, ge=1, help="vocabulary size: the readout predicts the next word (set from the data)")
    embed: int = param(32, ge=1, help="word-embedding width")
    n_hidden: int = param(50, ge=1, help="cortical (LSTM) units")
    cerebellum: tuple[int, ...] | None = param((400, 400), ge=1, help="hidden widths of the cerebellar MLP "
                                               "(empty: linear; none: no cerebellum)")

    def cortex(self) -> CorticoCerebellarRNNConfig:
        """The config of the captioner's cortex: an LSTM from word embeddings to next-word logits."""
        sg = {f.name: getattr(self, f.name) for f in dataclasses.fields(SyntheticGradientRNNConfig)}
        return CorticoCerebellarRNNConfig(n_in=self.embed, n_out=self.n_vocab, n_hidden=self.n_hidden,
                                          cerebellum=self.cerebellum, cell="lstm", **sg)


class CaptionModel(nn.Module):
    """A captioner: image features -> the cortex's initial state h_0 = tanh(W f) (c_0 = 0); the words
    enter the cortex through an embedding, and its readout predicts the next word.

    Args:
        config: sizes, cerebellum and truncation (see :class:`CaptionModelConfig`).
        generator: torch.Generator for all initial weights, drawn in this order: the embedding (standard
            normal), the cortex and cerebellum, the image layer (U(±1/√n_features)).
    """

    def __init__(self, config: CaptionModelConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        emb = nn.Embedding(config.n_vocab, config.embed)
        with torch.no_grad():
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=generator))
        self.rnn = CorticoCerebellarRNN(config.cortex(), encoder=emb, generator=generator)
        self.image = nn.Linear(config.n_features, config.n_hidden)
        with torch.no_grad():
            bound = 1 / math.sqrt(config.n_features)
            for p in self.image.parameters():
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)

    def state0(self, features: torch.Tensor) -> torch.Tensor:
        """The cortex's initial state [h_0; c_0] = [tanh(W f); 0] for image features (batch, n_features)."""
        h = torch.tanh(self.image(features))
        return torch.cat([h, torch.zeros_like(h)], dim=1)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Next-word logits (batch, L, vocab) for caption tokens (batch, L) of images with `features`."""
        return self.rnn(tokens, self.state0(features))

    def accumulate_gradients(self, tokens: torch.Tensor, window_loss: WindowLoss,
                             state0: torch.Tensor | None = None) -> SGStats:
        """The cortex's truncated-BPTT pass (see :meth:`SyntheticGradientRNN.accumulate_gradients`) from
        `state0` (pass ``self.state0(features)``), the gradient reaching it flowing into the image layer."""
        return self.rnn.accumulate_gradients(tokens, window_loss, state0)

    def clip_gradients(self, max_norm: float, include_synthesiser: bool = True) -> float:
        """Clip the global gradient norm of every parameter (the cerebellum's only if `include_synthesiser`);
        returns the norm before clipping."""
        params = list(self.parameters()) if include_synthesiser else \
            self.rnn.cortex_parameters() + list(self.image.parameters())
        return float(nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], max_norm))


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam over all parameters, cerebellum included, with the reference's betas (0.9, 0.98), eps 1e-9."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9, fused=True)


def update(model: SyntheticGradientRNN | CaptionModel, optimizer: torch.optim.Optimizer, x: torch.Tensor,
           window_loss: WindowLoss, *, clip: float = 1.0, clip_cerebellum: bool = True,
           state0: torch.Tensor | None = None) -> SGStats:
    """One minibatch update as in the reference: accumulate the gradients of all windows, clip the global
    norm (over every parameter, the cerebellum included, unless `clip_cerebellum` is False), one step.
    `model` is a :class:`SyntheticGradientRNN` or anything with its ``accumulate_gradients`` and
    ``clip_gradients`` (a :class:`CaptionModel`)."""
    optimizer.zero_grad(set_to_none=True)
    stats = model.accumulate_gradients(x, window_loss, state0)
    if clip > 0:
        model.clip_gradients(clip, include_synthesiser=clip_cerebellum)
    optimizer.step()
    return stats


# ---- losses and measures -------------------------------------------------------------------------------
def sparse_mse_loss(target: torch.Tensor, every: int = 1) -> WindowLoss:
    """Window loss for drawing tasks with feedback every `every` steps (t % every == 0), as in the reference:
    the mean squared error over the batch, the window's target steps and the output dimensions
    (``nn.MSELoss``); None for a window without targets. target: (batch, T, out)."""
    def window_loss(y: torch.Tensor, t0: int) -> torch.Tensor | None:
        first = (-t0) % every
        if first >= y.shape[1]:
            return None
        return F.mse_loss(y[:, first::every], target[:, t0 + first:t0 + y.shape[1]:every])
    return window_loss


def last_step_cross_entropy(labels: torch.Tensor, T: int) -> WindowLoss:
    """Window loss for sequence classification: cross-entropy of the output at the last step only."""
    def window_loss(y: torch.Tensor, t0: int) -> torch.Tensor | None:
        if t0 + y.shape[1] < T:
            return None
        return F.cross_entropy(y[:, -1], labels)
    return window_loss


def next_word_cross_entropy(tokens: torch.Tensor, lengths: torch.Tensor) -> WindowLoss:
    """Window loss for captioning: the output at step t predicts token t+1 (steps past a caption's end are
    masked); mean cross-entropy (nats) over the window's real tokens."""
    mask = torch.arange(tokens.shape[1], device=tokens.device)[None] < (lengths[:, None] - 1)

    def window_loss(y: torch.Tensor, t0: int) -> torch.Tensor | None:
        t1 = t0 + y.shape[1]
        m = mask[:, t0:t1]
        if not bool(m.any()):
            return None
        nxt = tokens[:, t0 + 1:t1 + 1]
        if nxt.shape[1] < y.shape[1]:
            y, m = y[:, :nxt.shape[1]], m[:, :nxt.shape[1]]
        return F.cross_entropy(y[m], nxt[m])
    return window_loss


def drawing_mse(y: torch.Tensor, target: torch.Tensor) -> float:
    """Task error of a drawing: squared distance summed over (x, y), averaged over steps and the batch."""
    if y.shape != target.shape:
        raise ShapeError(f"drawing_mse: shapes differ, {tuple(y.shape)} vs {tuple(target.shape)}")
    return float((y - target).pow(2).sum(-1).mean())


def gradient_cosine(predicted: torch.Tensor, true: torch.Tensor) -> float:
    """Mean cosine similarity between predicted and true gradients (…, state_dim), over all leading
    indices where the true gradient is nonzero (nan if there is none)."""
    if predicted.shape != true.shape:
        raise ShapeError(f"gradient_cosine: shapes differ, {tuple(predicted.shape)} vs {tuple(true.shape)}")
    p, t = predicted.reshape(-1, predicted.shape[-1]).double(), true.reshape(-1, true.shape[-1]).double()
    keep = t.norm(dim=1) > 0
    if not bool(keep.any()):
        return float("nan")
    return float(cosine(p[keep], t[keep]).mean())


def certainty(logits: torch.Tensor) -> float:
    """Mean max-softmax probability (batch, classes): the discrimination analogue of dysmetria."""
    check_tensor(logits, "logits", ndim=2)
    return float(logits.softmax(1).max(1).values.mean())


def bits_per_word(logits: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor) -> float:
    """Mean negative log2-likelihood of each next token, logits (batch, L, vocab) from tokens (batch, L)."""
    check_tensor(logits, "logits", ndim=3)
    mask = torch.arange(tokens.shape[1], device=tokens.device)[None] < (lengths[:, None] - 1)
    mask = mask[:, :-1]
    nll = F.cross_entropy(logits[:, :-1][mask], tokens[:, 1:][mask], reduction="mean")
    return float(nll) / math.log(2)

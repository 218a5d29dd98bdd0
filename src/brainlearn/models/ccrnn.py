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

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.analysis import cosine
from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.nn import Synthesiser
from brainlearn.rules.sg_rnn import SGStats, SyntheticGradientRNN, WindowLoss

CELL_TYPES = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "tanh": nn.RNNCell}


class CorticoCerebellarRNN(SyntheticGradientRNN):
    """Cortex (RNN cell + linear readout) with an optional cerebellum (synthesiser of future feedback).

    Args:
        input_size, output_size: per-step input and output widths.
        hidden_size: cortical units n (the LSTM state is 2n: [h; c]).
        cerebellum: hidden widths of the cerebellar MLP, e.g. (400, 400); () is a linear cerebellum;
            None removes it (the cRNN, i.e. plain truncated BPTT).
        window: K, the cortical feedback horizon (truncation); K >= T is full BPTT.
        sg_scale: β; bootstrap_discount: "reference" (γ = β) or γ in [0, 1] (1.0 is unbiased).
        cell: "lstm" (the paper's cortex), "gru" or "tanh".
        encoder: optional input module (e.g. a word embedding), see :class:`SyntheticGradientRNN`.
        generator: torch.Generator for all initial weights (PyTorch's default uniform ranges).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 50,
                 cerebellum: Sequence[int] | None = (400, 400), *, window: int = 1, sg_scale: float = 0.1,
                 bootstrap_discount: str | float = "reference", cell: str = "lstm",
                 encoder: nn.Module | None = None, generator: torch.Generator | None = None):
        if cell not in CELL_TYPES:
            raise ConfigError(f"cell={cell!r}; expected one of {', '.join(CELL_TYPES)}")
        if min(input_size, output_size, hidden_size) < 1:
            raise ConfigError(f"sizes must be >= 1, got input_size={input_size}, output_size={output_size}, "
                              f"hidden_size={hidden_size}")
        core = CELL_TYPES[cell](input_size, hidden_size)
        state_dim = hidden_size * (2 if cell == "lstm" else 1)
        synth = None if cerebellum is None else Synthesiser(state_dim, tuple(cerebellum))
        super().__init__(core, nn.Linear(hidden_size, output_size), synth, window=window, sg_scale=sg_scale,
                         bootstrap_discount=bootstrap_discount, encoder=encoder)
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


class CaptionModel(nn.Module):
    """A captioner: image features -> the cortex's initial state h_0 = tanh(W f) (c_0 = 0); the words
    enter the cortex through an embedding, and its readout predicts the next word.

    Args:
        n_features: width of the image features; vocab: vocabulary size; embed: word-embedding width.
        hidden_size, cerebellum, window, sg_scale, bootstrap_discount: as :class:`CorticoCerebellarRNN`
            (an LSTM cortex).
        generator: torch.Generator for all initial weights, drawn in this order: the embedding (standard
            normal), the cortex and cerebellum, the image layer (U(±1/√n_features)).
    """

    def __init__(self, n_features: int, vocab: int, embed: int, hidden_size: int,
                 cerebellum: Sequence[int] | None, *, window: int, sg_scale: float = 0.1,
                 bootstrap_discount: str | float = "reference", generator: torch.Generator | None = None):
        super().__init__()
        emb = nn.Embedding(vocab, embed)
        with torch.no_grad():
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=generator))
        self.rnn = CorticoCerebellarRNN(embed, vocab, hidden_size, cerebellum, window=window, sg_scale=sg_scale,
                                        bootstrap_discount=bootstrap_discount, encoder=emb, generator=generator)
        self.image = nn.Linear(n_features, hidden_size)
        with torch.no_grad():
            bound = 1 / math.sqrt(n_features)
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

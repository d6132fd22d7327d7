"""The three-state "Switch-Feature" benchmark of FIT, ContraLSP and TIMING.

A hidden Markov chain picks, at every time step, which of three features carries the
label. The features are Gaussian-process draws around the current state's means, and the
per-step label depends on the state's feature only, so the true saliency is the cell
``(t, s_t)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_nonnegative_float, check_positive_int
from .hmm import HMMSeries

#: probability of each state at ``t = 0``
START = (1 / 3, 1 / 3, 1 / 3)
#: ``TRANSITIONS[i][j] = P(s_t = j | s_{t-1} = i)``
TRANSITIONS = ((0.95, 0.02, 0.03), (0.02, 0.95, 0.03), (0.03, 0.02, 0.95))
#: emission means of each state (one row per state, one column per feature)
MEANS = ((0.8, -0.5, -0.2), (0.0, -1.0, 0.0), (-0.2, -0.2, 0.8))
#: the label's logit is ``LABEL_SLOPE * x[t, s_t]``
LABEL_SLOPE = 3.0
#: added to the kernel's diagonal, relative to ``variance``, so that its Cholesky exists
#: for long lengthscales (a relative change of 5e-7 in the standard deviation)
JITTER = 1e-6
#: most entries of the per-chunk ``(n, T, T)`` emission matrix (bounds memory)
_CHUNK_ENTRIES = 1 << 22


def switch_feature(
    n_samples: int = 1000,
    length: int = 100,
    seed: int = 0,
    lengthscale: float = 0.2,
    variance: float = 0.1,
) -> HMMSeries:
    r"""Draw ``n_samples`` series of the Switch-Feature benchmark (3 features, 3 states).

    **States.** ``s_0`` is uniform over the three states and
    ``P(s_t = j | s_{t-1} = i) = TRANSITIONS[i][j]`` (0.95 to stay).

    **Emissions.** The series is cut into *segments*, the maximal runs of one state.
    Each segment of each feature is an independent Gaussian-process draw on the
    segment's own time ``u = 0, 1, ...`` (the process restarts when the state
    switches), added to that state's mean:
    ``x[t, f] = MEANS[s_t][f] + g_f(u)`` with a squared-exponential kernel

    .. math:: k(u, u') = \mathrm{variance}\,\exp\!\big(-(u - u')^2 / (2\,\mathrm{lengthscale}^2)\big).

    This is the kernel of ``timesynth.signals.GaussianProcess`` used by the
    reference generator; its "RBF with 0.2" is this ``lengthscale=0.2``, for which
    neighbouring steps correlate by ``exp(-12.5) ~ 4e-6``, i.e. the emissions are
    practically independent ``N(mean, 0.1)`` per step. A larger ``lengthscale``
    gives smooth segments (``lengthscale = 1 / sqrt(2 gamma)`` reads the kernel as
    ``variance * exp(-gamma (u - u')^2)``).

    **Labels.** ``y_t ~ Bernoulli(sigmoid(3 x[t, s_t]))``: only the state's feature
    matters, so the true saliency is 1 at ``(t, s_t)`` and 0 elsewhere.

    **Sampling.** One Cholesky factor ``L`` of the ``(T, T)`` kernel serves every
    segment: the factor of a segment of length ``m`` is ``L[:m, :m]`` (the kernel is
    stationary and a leading block of a Cholesky factor is the factor of the leading
    block), so all emissions are one batched product of gathered rows of ``L`` with
    standard normals. The state chain runs step by step (it is sequential),
    vectorised over the series with inverse-CDF draws. Everything comes from one
    ``torch.Generator`` seeded with ``seed``, in float64, returned as float32.

    Args:
        n_samples (int): number of series ``N``.
        length (int): time steps ``T`` (the benchmark uses 100).
        seed (int): seed of the generator.
        lengthscale (float): kernel lengthscale in time steps (> 0).
        variance (float): kernel variance (>= 0; 0 gives the bare state means).

    Returns:
        HMMSeries: ``inputs`` ``(N, T, 3)`` float32, ``labels`` ``(N, T)`` long,
        ``saliency`` ``(N, T, 3)`` float32 one-hot, ``states`` ``(N, T)`` long.

    >>> data = switch_feature(n_samples=4, length=50, seed=1)
    >>> data.inputs.shape, data.labels.shape, data.saliency.sum(-1).unique().tolist()
    (torch.Size([4, 50, 3]), torch.Size([4, 50]), [1.0])
    """
    check_positive_int(n_samples, "n_samples")
    check_positive_int(length, "length")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int, got {seed!r}.")
    scale = check_nonnegative_float(lengthscale, "lengthscale")
    if scale == 0:
        raise ValueError("`lengthscale` must be > 0 (time steps); pass e.g. 0.2, the benchmark's value.")
    var = check_nonnegative_float(variance, "variance")

    g = torch.Generator().manual_seed(seed)
    states = _state_chain(n_samples, length, g)  # (N, T)
    z = torch.randn(n_samples, length, 3, generator=g, dtype=torch.float64)
    noise = _segment_draws(states, z, _kernel_factor(length, scale, var))
    x = torch.tensor(MEANS, dtype=torch.float64)[states] + noise

    driver = x.gather(2, states.unsqueeze(-1)).squeeze(-1)
    u = torch.rand(n_samples, length, generator=g, dtype=torch.float64)
    labels = (u < torch.sigmoid(LABEL_SLOPE * driver)).long()

    saliency = torch.zeros(n_samples, length, 3)
    saliency.scatter_(2, states.unsqueeze(-1), 1.0)
    return HMMSeries(x.float(), labels, saliency, states)


def _state_chain(n: int, length: int, g: torch.Generator) -> Tensor:
    """``(n, length)`` states by inverse-CDF draws: the next state of every series
    from every possible previous state is computed at once, then the chain picks
    one per step."""
    start = torch.tensor(START, dtype=torch.float64).cumsum(0)
    rows = torch.tensor(TRANSITIONS, dtype=torch.float64).cumsum(1)  # (3, 3)
    u = torch.rand(length, n, generator=g, dtype=torch.float64)
    first = _inverse_cdf(u[0], start)  # (n,)
    following = _inverse_cdf(u[1:, :, None], rows)  # (T - 1, n, 3): from each previous state
    out = torch.empty(length, n, dtype=torch.long)
    out[0] = first
    for t in range(1, length):  # a Markov chain: each step needs the previous one
        out[t] = following[t - 1].gather(1, out[t - 1, :, None]).squeeze(1)
    return out.T.contiguous()


def _inverse_cdf(u: Tensor, cdf: Tensor) -> Tensor:
    """The first index whose cumulative probability exceeds ``u`` (clamped for rounding)."""
    return (u.unsqueeze(-1) >= cdf).sum(-1).clamp(max=cdf.shape[-1] - 1)


def _kernel_factor(length: int, lengthscale: float, variance: float) -> Tensor:
    """Lower Cholesky factor of the ``(T, T)`` squared-exponential kernel (float64)."""
    t = torch.arange(length, dtype=torch.float64)
    kernel = torch.exp(-((t[:, None] - t[None, :]) ** 2) / (2 * lengthscale**2))
    kernel += JITTER * torch.eye(length, dtype=torch.float64)  # eigenvalues >= JITTER
    return variance**0.5 * torch.linalg.cholesky(kernel)


def _segment_draws(states: Tensor, z: Tensor, factor: Tensor) -> Tensor:
    """``(N, T, 3)`` Gaussian-process draws restarting at every state switch.

    With ``a`` the start of the segment holding ``t`` and ``u = t - a``,
    ``draw[t] = sum_{i=a}^{t} factor[u, i - a] z[i]``. Row ``u`` of ``factor`` padded
    with ``T`` zeros on the left, read from offset ``T - a``, is exactly that row of
    weights over ``i = 0 .. T-1``; the weight rows are gathered as windows of the
    padded factor and multiplied with ``z``, in chunks of series that bound memory.
    """
    n, length = states.shape
    steps = torch.arange(length)
    new = torch.ones_like(states, dtype=torch.bool)
    new[:, 1:] = states[:, 1:] != states[:, :-1]
    start = torch.where(new, steps, torch.zeros_like(steps)).cummax(1).values  # (N, T)
    local = steps - start  # (N, T): time within the segment
    padded = torch.cat([torch.zeros_like(factor), factor], dim=1)  # (T, 2T)
    windows = padded.unfold(1, length, 1)  # (T, T + 1, T): windows[u, o] = padded[u, o:o + T]
    per_chunk = max(1, _CHUNK_ENTRIES // (length * length))
    out = torch.empty_like(z)
    for s0 in range(0, n, per_chunk):
        s1 = min(s0 + per_chunk, n)
        weights = windows[local[s0:s1], length - start[s0:s1]]  # (n, T, T)
        out[s0:s1] = weights @ z[s0:s1]
    return out

# Rerun with: cd src/test/resources/cli && python3 make_fixtures.py   (needs NumPy; the tests do not)
# Small inputs for `qkv pool` and their float64 NumPy reference outputs (scaled-dot scoring).
import numpy as np

rng = np.random.default_rng(20261128)
Q = rng.standard_normal((3, 5)).astype('<f4')
K = rng.standard_normal((7, 5)).astype('<f4')
V = rng.standard_normal((7, 4)).astype('<f4')
L = np.array([7, 2, 0], dtype='<i8')
M = rng.random((3, 7)) > 0.4


def reference(Q, K, V, lens=None, mask=None, causal=False, scale=None):
    S = Q.astype(np.float64) @ K.astype(np.float64).T
    S = S * (1 / np.sqrt(Q.shape[-1]) if scale is None else scale)
    n, m = S.shape
    visible = np.ones((n, m), bool)
    if lens is not None:
        visible &= np.arange(m)[None, :] < lens[:, None]
    if causal:
        visible &= np.arange(m)[None, :] <= np.arange(n)[:, None] + (m - n)
    if mask is not None:
        visible &= mask
    S = np.where(visible, S, -np.inf)
    top = S.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    E = np.exp(S - top)
    total = E.sum(axis=1, keepdims=True)
    W = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
    lse = np.where(total[:, 0] > 0, np.log(np.where(total[:, 0] > 0, total[:, 0], 1)) + top[:, 0], -np.inf)
    return W @ V.astype(np.float64), W, lse


np.save('Q.npy', Q)
np.save('Q1.npy', Q[0])
np.save('K.npy', K)
np.save('K8.npy', K.astype('<f8'))
np.save('V.npy', V)
np.save('L.npy', L)
np.save('M.npy', M)
out, W, lse = reference(Q, K, V)
np.save('ref_out.npy', out)
np.save('ref_weights.npy', W)
np.save('ref_lse.npy', lse)
np.save('ref_valid_lens.npy', reference(Q, K, V, lens=L)[0])
np.save('ref_causal.npy', reference(Q, K, V, causal=True)[0])
np.save('ref_mask.npy', reference(Q, K, V, mask=M)[0])
np.save('ref_dot_scale.npy', reference(Q, K, V, scale=0.7)[0])

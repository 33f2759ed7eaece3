# Rerun with: cd src/test/resources/cli/heads && python3 make_fixtures.py   (needs NumPy and PyTorch; the tests
# need neither). Batched, multi-head, grouped-query inputs for `qkv pool` and PyTorch's own float64 answers:
# torch.nn.functional.scaled_dot_product_attention (enable_gqa, is_causal, boolean attn_mask), with the
# weights and log-sum-exp, which SDPA does not return, from the same float64 scores.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(20261202)
B, H, H_KV, N, M, D, DV = 2, 4, 2, 5, 7, 8, 3
Q = rng.uniform(-2, 2, (B, H, N, D)).astype('<f4')
K = rng.uniform(-2, 2, (B, H_KV, M, D)).astype('<f4')
V = rng.uniform(-2, 2, (B, H_KV, M, DV)).astype('<f4')
QC = rng.uniform(-2, 2, (B, H, M, D)).astype('<f4')       # n = m: PyTorch's causal mask (top-left) is qkv's
LB = np.array([3, 7], dtype='<i8')                         # valid lengths (B,): every query of batch b
LBN = np.array([[1, 2, 3, 4, 5], [7, 6, 5, 4, 3]], dtype='<i8')  # (B, n); none 0 (SDPA gives NaN rows there)


def t(a):
    return torch.from_numpy(a.astype(np.float64))


def sdpa(q, k, v, visible=None, causal=False):
    """Output by SDPA itself; weights and log-sum-exp from float64 scores of the shared key heads."""
    q, k, v = t(q), t(k), t(v)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if visible is None else torch.from_numpy(visible),
                                         is_causal=causal, enable_gqa=True)
    group = q.shape[1] // k.shape[1]
    s = q @ k.repeat_interleave(group, dim=1).transpose(-1, -2) / np.sqrt(q.shape[-1])
    n, m = s.shape[-2:]
    if causal:
        s = s.masked_fill(~torch.ones(n, m, dtype=torch.bool).tril(), float('-inf'))
    if visible is not None:
        s = s.masked_fill(~torch.from_numpy(visible), float('-inf'))
    return [x.numpy().astype('<f4') for x in (out, torch.softmax(s, -1), torch.logsumexp(s, -1))]


def lengths_mask(lengths):
    """(B, 1, n, m) visible where key j < the query's valid length, broadcast over the heads."""
    lens = lengths if lengths.ndim == 2 else np.repeat(lengths[:, None], N, axis=1)
    return (np.arange(M)[None, None, :] < lens[:, :, None])[:, None, :, :]


np.save('Q.npy', Q)
np.save('K.npy', K)
np.save('V.npy', V)
np.save('QC.npy', QC)
np.save('LB.npy', LB)
np.save('LBN.npy', LBN)
out, w, lse = sdpa(Q, K, V)
np.save('ref_out.npy', out)
np.save('ref_weights.npy', w)
np.save('ref_lse.npy', lse)
np.save('ref_causal.npy', sdpa(QC, K, V, causal=True)[0])
np.save('ref_lens_b.npy', sdpa(Q, K, V, visible=lengths_mask(LB))[0])
np.save('ref_lens_bn.npy', sdpa(Q, K, V, visible=lengths_mask(LBN))[0])
# Keys and values of rank 2, shared by every batch and head (multi-query attention over one sequence).
np.save('K2.npy', K[0, 0])
np.save('V2.npy', V[0, 0])
np.save('ref_shared.npy', sdpa(Q, K[:1, :1].repeat(B, 0), V[:1, :1].repeat(B, 0))[0])
for name in sorted(['ref_out', 'ref_weights', 'ref_lse', 'ref_causal', 'ref_lens_b', 'ref_lens_bn', 'ref_shared']):
    a = np.load(name + '.npy')
    assert np.all(np.isfinite(a)), name
    print(f'{name:12} {a.shape}')

# Rerun with: cd src/test/resources/cli/bias && python3 make_fixtures.py   (needs NumPy and PyTorch; the tests
# need neither). Additive score biases for `qkv pool --bias/--alibi` and `qkv grad --bias`, with PyTorch's own
# float64 answers: torch.nn.functional.scaled_dot_product_attention with a float attn_mask (added to the scaled
# scores, -inf hiding a key), grouped-query heads (enable_gqa) and a causal mask, and the gradients dQ, dK, dV of
# L = sum(G * OUT) by autograd through it. Inputs are float32 (as qkv reads them), widened exactly to float64.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(20261214)
B, H, H_KV, N, M, D, DV = 2, 4, 2, 5, 7, 8, 3
Q = rng.uniform(-2, 2, (B, H, N, D)).astype('<f4')
K = rng.uniform(-2, 2, (B, H_KV, M, D)).astype('<f4')
V = rng.uniform(-2, 2, (B, H_KV, M, DV)).astype('<f4')
G = rng.uniform(-1, 1, (B, H, N, DV)).astype('<f4')        # the gradient of L with respect to OUT
QC = rng.uniform(-2, 2, (B, H, M, D)).astype('<f4')       # n = m: PyTorch's causal mask (top-left) is qkv's
GC = rng.uniform(-1, 1, (B, H, M, DV)).astype('<f4')

# (B, 1, n, m): one bias per batch, broadcast over the heads; a few keys hidden by -inf, none hiding a whole row.
BIAS = rng.uniform(-3, 3, (B, 1, N, M)).astype('<f4')
BIAS[0, 0, 1, [0, 3]] = -np.inf
BIAS[1, 0, 4, 6] = -np.inf
# (B, 1, 1, m): key padding, the last keys of batch 1 hidden from every query and head.
PAD = np.zeros((B, 1, 1, M), dtype='<f4')
PAD[1, 0, 0, 5:] = -np.inf
# (n, m): one matrix for every batch and head.
BIAS2 = rng.uniform(-3, 3, (N, M)).astype('<f4')


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def sdpa(q, k, v, bias, g=None):
    """SDPA's output in float64, and with g the gradients of sum(g * out) with respect to q, k and v."""
    q, k, v = (t(x).requires_grad_(g is not None) for x in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=t(bias), enable_gqa=q.dim() == 4)
    if g is None:
        return [out.detach().numpy().astype('<f4')]
    (out * t(g)).sum().backward()
    return [x.numpy().astype('<f4') for x in (out.detach(), q.grad, k.grad, v.grad)]


def alibi(heads, n, m):
    """ALiBi as qkv defines it: -slope_h * |i + (m - n) - j|, the paper's slopes 2^(-8(h+1)/H), float32 as qkv."""
    slopes = 2.0 ** (-8.0 * np.arange(1, heads + 1) / heads)
    i = np.arange(n)[:, None]
    j = np.arange(m)[None, :]
    return (-slopes[:, None, None] * np.abs(i + (m - n) - j)).astype('<f4')[None]


def causal(n, m):
    return np.where(np.tril(np.ones((n, m), dtype=bool)), 0.0, -np.inf)


for name, a in [('Q', Q), ('K', K), ('V', V), ('G', G), ('QC', QC), ('GC', GC), ('BIAS', BIAS), ('PAD', PAD),
                ('BIAS2', BIAS2)]:
    np.save(name + '.npy', a)
out, dq, dk, dv = sdpa(Q, K, V, BIAS, G)
np.save('ref_bias_out.npy', out)
np.save('ref_bias_dq.npy', dq)
np.save('ref_bias_dk.npy', dk)
np.save('ref_bias_dv.npy', dv)
np.save('ref_pad_out.npy', sdpa(Q, K, V, PAD)[0])
np.save('ref_bias2_out.npy', sdpa(Q, K, V, BIAS2)[0])
# One head as matrices (n, d), (m, d), (m, dv): qkv's 2-D path.
np.save('Q2.npy', Q[0, 0])
np.save('K2.npy', K[0, 0])
np.save('V2.npy', V[0, 0])
np.save('ref_2d_out.npy', sdpa(Q[0, 0], K[0, 0], V[0, 0], BIAS2)[0])
# ALiBi per head with the causal mask (SDPA takes no is_causal with attn_mask: the -inf of the mask is added).
out, dq, dk, dv = sdpa(QC, K, V, alibi(H, M, M).astype(np.float64) + causal(M, M), GC)
np.save('ref_alibi_out.npy', out)
np.save('ref_alibi_dq.npy', dq)
np.save('ref_alibi_dk.npy', dk)
np.save('ref_alibi_dv.npy', dv)
for name in sorted(['ref_bias_out', 'ref_bias_dq', 'ref_bias_dk', 'ref_bias_dv', 'ref_pad_out', 'ref_bias2_out',
                    'ref_2d_out', 'ref_alibi_out', 'ref_alibi_dq', 'ref_alibi_dk', 'ref_alibi_dv']):
    a = np.load(name + '.npy')
    assert np.all(np.isfinite(a)), name
    print(f'{name:14} {a.shape}')

"""Fixtures of examples/consumer: keys, values and queries (float32), and the pooled output in float64.

out = softmax(Q Kᵀ / √d) V, computed in float64 from the float32 inputs, max-subtracted.
Run from anywhere: python3 make_fixtures.py (writes next to this file). NumPy only.
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2026)
n, m, d, dv = 40, 1000, 32, 8
queries = rng.standard_normal((n, d)).astype(np.float32)
keys = rng.standard_normal((m, d)).astype(np.float32)
values = rng.standard_normal((m, dv)).astype(np.float32)

scores = (queries.astype(np.float64) @ keys.astype(np.float64).T) / np.sqrt(d)
scores -= scores.max(axis=1, keepdims=True)
weights = np.exp(scores)
weights /= weights.sum(axis=1, keepdims=True)
out = weights @ values.astype(np.float64)

np.save(os.path.join(here, "queries.npy"), queries)
np.save(os.path.join(here, "keys.npy"), keys)
np.save(os.path.join(here, "values.npy"), values)
np.save(os.path.join(here, "expected_out.npy"), out)  # <f8

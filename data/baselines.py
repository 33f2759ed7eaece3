#!/usr/bin/env python3
"""The baselines of `qkv demo search`, on its split of data/digits-*.npy (index % 3 == 0 → query, the rest
the database): reduce the 64 pixels to r dimensions, fitted on the database alone, then label each query by
its nearest database item (1-NN, Euclidean), for r = 2, 3, 4.

- PCA: sklearn.decomposition.PCA(r).
- NCA: sklearn.neighbors.NeighborhoodComponentsAnalysis(n_components=r, random_state=0), its default
  init ('auto': PCA here, as r < classes) and max_iter=50.

Pixels are scaled by 1/16 to [0, 1] first, as the demo does. Prints one line per method and r.

    python3 data/baselines.py              # needs scikit-learn (pip install scikit-learn)
"""
import os
import time

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier, NeighborhoodComponentsAnalysis

here = os.path.dirname(os.path.abspath(__file__))
x = np.load(os.path.join(here, "digits-images.npy")).astype(np.float64) / 16
y = np.load(os.path.join(here, "digits-labels.npy")).astype(np.int64)
query = np.arange(len(y)) % 3 == 0
xq, yq, xd, yd = x[query], y[query], x[~query], y[~query]
print(f"scikit-learn {sklearn.__version__}; {len(yd)} database items, {len(yq)} queries")
for r in (2, 3, 4):
    for name, reducer in (("PCA", PCA(n_components=r)),
                          ("NCA", NeighborhoodComponentsAnalysis(n_components=r, random_state=0))):
        start = time.perf_counter()
        reducer.fit(xd, yd)
        knn = KNeighborsClassifier(n_neighbors=1).fit(reducer.transform(xd), yd)
        accuracy = knn.score(reducer.transform(xq), yq)
        print(f"{name} r={r}: 1-NN held-out accuracy {accuracy:.4f} ({round(accuracy * len(yq))}/{len(yq)}),"
              f" fit {time.perf_counter() - start:.1f} s")

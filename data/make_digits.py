#!/usr/bin/env python3
"""Writes the 1,797 8×8 handwritten digits scikit-learn ships (UCI "Optical Recognition of Handwritten
Digits", CC BY 4.0) as data/digits-images.npy (uint8, 1797×64, pixel counts 0…16, row-major 8×8) and
data/digits-labels.npy (uint8, 1797, the digit 0…9), in scikit-learn's order, the order the split uses.

    python3 data/make_digits.py            # needs scikit-learn (pip install scikit-learn)
"""
import os

import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
digits = load_digits()
images = digits.data.astype(np.uint8)
assert images.shape == (1797, 64) and (images == digits.data).all() and images.max() <= 16
labels = digits.target.astype(np.uint8)
assert labels.shape == (1797,) and (labels == digits.target).all()
np.save(os.path.join(here, "digits-images.npy"), images)
np.save(os.path.join(here, "digits-labels.npy"), labels)
print("wrote", images.shape, labels.shape, "label counts", np.bincount(labels).tolist())

# Rerun from the repository root with `python3 src/test/resources/npy/make_fixtures.py` (needs NumPy);
# it rewrites the .npy fixtures next to this script and asserts the values NpyTest hard-codes.
"""Fixtures for dev.qkv.io.NpyTest: tiny .npy files written by NumPy itself, good and bad."""

import io
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
INT_EDGES = [-2**31, -1, 0, 1, 2**31 - 1, 7]


def save(name, array, version=None, allow_pickle=False):
    path = HERE / name
    with open(path, "wb") as f:
        if version is None:
            np.save(f, array, allow_pickle=allow_pickle)
        else:
            np.lib.format.write_array(f, array, version=version, allow_pickle=allow_pickle)
    back = np.load(path, allow_pickle=allow_pickle)
    assert back.dtype == array.dtype and back.shape == array.shape, name
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f"), name
    print(f"{name:20} {array.dtype.str:4} {array.shape}: {array.ravel().tolist()}")


def npy_bytes(array):
    f = io.BytesIO()
    np.save(f, array)
    return f.getvalue()


def write_raw(name, data, note):
    (HERE / name).write_bytes(data)
    print(f"{name:20} {note}")


# Readable by Npy.read / readTensor.
save("f4_1d.npy", np.arange(5, dtype="<f4") / 2)                                  # [0, 0.5, 1, 1.5, 2]
save("f4_2d.npy", (np.arange(12) - 5.5).astype("<f4").reshape(3, 4))              # 4i + j - 5.5
save("f8_2d.npy", (np.arange(6) / 3).astype("<f8").reshape(2, 3))                 # k / 3, rounded to float
save("f4_be.npy", (np.arange(6) - 2.5).astype(">f4").reshape(2, 3))               # k - 2.5
save("f8_be.npy", np.array([0.1, 1e300, -1e300, np.nan], dtype=">f8"))            # 1e300 is beyond float range: refused
save("f4_3d.npy", np.arange(24, dtype="<f4").reshape(2, 3, 4))                    # k
save("f4_4d.npy", np.arange(12, dtype="<f4").reshape(2, 3, 1, 2) * -1)            # -k
save("f4_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
save("f4_v2.npy", (np.arange(6) + 0.25).astype("<f4").reshape(2, 3), version=(2, 0))  # k + 0.25
save("f4_v3.npy", (np.arange(6) * -1).astype("<f4").reshape(3, 2), version=(3, 0))    # -k
# float16: every kind of value, mapped as F16 (<f2) or swapped into a new F16 tensor (>f2).
F2_EDGES = [0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-14, 2.0**-24, np.inf, -np.inf, np.nan, 1/3, 1000.5]
save("f2_1d.npy", np.array(F2_EDGES, dtype="<f2"))                                 # rounded once, by NumPy
save("f2_be.npy", np.array(F2_EDGES, dtype=">f2"))
save("f2_4d.npy", (np.arange(24) / 4).astype("<f2").reshape(2, 3, 2, 2))          # k / 4, exact in f16
save("f4_5d.npy", np.zeros((1, 1, 1, 2, 3), dtype="<f4"))                          # rank 5: readTensor refuses
# bfloat16 bit patterns (NumPy has no bfloat16): the top half of each float32, rounded to nearest even.
BF16 = np.array([1.0, -2.0, 3.140625, np.inf, 2.0**-130, 65536.0], dtype="<f4")
assert np.all(BF16.view("<u4") & 0xFFFF == 0)                                     # all exact in bf16
save("bf16_bits_2d.npy", (BF16.view("<u4") >> 16).astype("<u2").reshape(2, 3))
save("bf16_bits_be.npy", (BF16.view("<u4") >> 16).astype(">u2"))

# Readable by Npy.readInts.
save("i4.npy", (np.arange(6) - 3).astype("<i4").reshape(2, 3))                   # k - 3
save("i4_be.npy", np.array(INT_EDGES, dtype=">i4"))
save("i8.npy", np.array(INT_EDGES, dtype="<i8").reshape(2, 3))
save("i8_be.npy", np.array(INT_EDGES, dtype=">i8"))
save("u1.npy", np.array([0, 1, 127, 128, 255], dtype="|u1"))
save("i1.npy", np.array([-128, -1, 0, 1, 127], dtype="|i1"))
save("b1.npy", np.array([[True, False, True], [False, False, True]]))
save("i8_overflow.npy", np.array([1, 2, 2**31], dtype="<i8"))                     # 2**31 does not fit an int

# Valid for NumPy, refused by qkv.
save("bad_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("bad_complex.npy", np.arange(3, dtype="<c8"))
save("bad_object.npy", np.array([1, None], dtype=object), allow_pickle=True)
save("bad_unicode.npy", np.array(["ab", "cde"], dtype="<U5"))
save("bad_scalar.npy", np.float32(1.5))
good = npy_bytes((np.arange(12) - 5.5).astype("<f4").reshape(3, 4))
write_raw("bad_trailing.npy", good + b"\0" * 4, "f4_2d.npy plus 4 trailing bytes (np.load ignores them)")

# Broken.
write_raw("bad_truncated.npy", good[:-5], "f4_2d.npy without its last 5 bytes")
write_raw("bad_magic.npy", b"\x93NUMPZ" + good[6:], "f4_2d.npy with a bad magic")
assert b"'shape': (3, 4), " in good
write_raw("bad_header.npy", good.replace(b"'shape': (3, 4), ", b"'shape': (3, 4}, "),
          "f4_2d.npy with an unbalanced shape tuple")

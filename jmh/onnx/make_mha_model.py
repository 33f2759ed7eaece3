#!/usr/bin/python3
"""Writes the ONNX models of the ONNX Runtime peer benchmarks: one com.microsoft MultiHeadAttention node.

    mha_d64.onnx, mha_d128.onnx   query (batch, sequence, d), key and value (batch, kv_sequence, d)
                                  -> output (batch, sequence, d)

num_heads = 1, so the head size is d, and the scale is MultiHeadAttention's default 1/sqrt(head size):
the scaled dot of qkv. Batch and both sequence lengths are symbolic. The hidden size d is fixed, one model
per d: ONNX Runtime 1.23.2 would also run a model whose d is symbolic (tried), but a fixed d makes it check
that the inputs have the d the benchmark meant. Opset imports "" 17 and com.microsoft 1; IR version 8,
which ONNX Runtime 1.23 reads.

Run with Debian's onnx (apt-get install python3-onnx): /usr/bin/python3 jmh/onnx/make_mha_model.py
The models are committed; the benchmarks and tests need no Python.
"""
import os

import onnx
from onnx import TensorProto, helper


def mha_model(d):
    def tensor(name, sequence):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", sequence, d])

    node = helper.make_node(
        "MultiHeadAttention",
        inputs=["query", "key", "value"],
        outputs=["output"],
        domain="com.microsoft",
        num_heads=1,
    )
    graph = helper.make_graph(
        [node],
        f"mha_d{d}",
        inputs=[tensor("query", "sequence"), tensor("key", "kv_sequence"), tensor("value", "kv_sequence")],
        outputs=[tensor("output", "sequence")],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="qkv jmh/onnx/make_mha_model.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (64, 128):
        path = os.path.join(here, f"mha_d{d}.onnx")
        onnx.save(mha_model(d), path)
        print(path, os.path.getsize(path), "bytes")

"""TensorFlow Lite (LiteRT): the adapter (`backend`), PyTorch -> .tflite conversion
(`convert`) and LiteRT Quantizer recipes (`quantize`), side by side."""

from harness.core.model_source import SourceKind, register_source_kind


def _tflite_inputs(path):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from harness.core.model_card import InputSpec

    details = Interpreter(model_path=str(path)).get_input_details()
    return [InputSpec(detail["name"], tuple(
        None if signature < 0 else int(size)
        for size, signature in zip(detail["shape"], detail["shape_signature"], strict=True)),
        np.dtype(detail["dtype"]).name) for detail in details]


register_source_kind(SourceKind("tflite", "a TFLite flatbuffer", (".tflite",), _tflite_inputs))

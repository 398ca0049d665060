"""OpenVINO: the adapter (`backend`), ONNX -> IR conversion and NNCF quantization
(`quantize`), side by side. Import openvino itself through `ov_import`."""

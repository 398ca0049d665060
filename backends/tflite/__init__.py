"""TensorFlow Lite (LiteRT): the adapter (`backend`), PyTorch -> .tflite conversion
(`convert`) and LiteRT Quantizer recipes (`quantize`), side by side."""

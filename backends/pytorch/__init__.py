"""PyTorch eager: the adapter (`backend`) and its precisions (`quantize`), side by side."""

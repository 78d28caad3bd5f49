"""Deployment: int8 quantisation, ONNX export, pruning and an HTTP prediction service."""

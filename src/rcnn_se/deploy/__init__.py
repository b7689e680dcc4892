"""Layer 5, deployment: fast CPU inference (channels-last blocks, bf16, int8), quantization, TorchScript
and ONNX export, the `rcnn-se enhance` command and the MLflow pyfunc model. Imports only layers 0-4.
"""

"""The user-facing layer: ops, quantization, precisions, devices, errors.
Imports only the C core (xpuops._core) and itself."""

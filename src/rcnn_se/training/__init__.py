"""Layer 2, training: the LightningModule and its one enhancer (compress, network, decompress), checkpoint
loading, the `_target_` allowlist, config checks, progress lines, the quieting of known warnings and MAC
counting. Imports only layers 0-1 (errors, cpu, data, models, metrics).
"""

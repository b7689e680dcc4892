"""Layer 2, training: the LightningModule and its one enhancer (compress, network, decompress), checkpoint
loading, progress lines, the quieting of known warnings and MAC counting. Imports only layers 0-1 (errors,
cpu, config's schema, checks and `_target_` guard, data, models, metrics).
"""

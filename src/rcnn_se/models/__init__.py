"""Layer 1, the networks: the spectral CNN / RCNN and the classic baselines (spectral subtraction, Wiener),
mapping a noisy magnitude spectrogram to an enhanced one. Imports only its own layer (the STFT settings of
`rcnn_se.data`) and layer 0.
"""

"""Layer 1, the networks: the spectral CNN / RCNN and the classic baselines (spectral subtraction, Wiener),
mapping a noisy magnitude spectrogram to an enhanced one. Imports only its own layer (the STFT settings of
`rcnn_se.data`) and layer 0.

A new model family is one module here and one file in conf/model/: an `nn.Module` mapping [B, 1, F, T] to
[B, 1, F, T] in the network's domain (`compress`), whose constructor's arguments are the config's keys beside
`_target_`. Checkpoints rebuild only classes defined in this package. A network that is not a stack of
convolutions says how many frames each side it looks at (`context_frames`), so that `rcnn-se enhance` and
the logged model can run it block by block in bounded memory.
"""

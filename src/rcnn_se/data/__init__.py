"""Layer 1, the data: the Edinburgh corpus layout and its log files, the demo corpus and the real-speech check
built here, wav reading and resampling, the STFT, the memory-mapped feature cache and the Lightning
DataModule. Imports only `rcnn_se.errors` and `rcnn_se.cpu` below it (and its own layer's models and metrics).
"""

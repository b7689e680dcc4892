"""Layer 3, scoring: enhancing a test set, scoring every utterance in worker processes and summarising the
scores by SNR and noise type, the noisy input's cached reference scores, and the validation-quality
callback. Imports only layers 0-2.
"""

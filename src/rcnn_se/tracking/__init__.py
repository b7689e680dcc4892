"""Layer 4, where runs are kept: the MLflow store and its locking, one run per job with an honest final
status, run names and source tags, the MLflow logger factory, and `rcnn-se runs`. Imports only layers 0-3.
"""

"""Layer 6, the jobs: training and testing one configuration (`train_and_test`), scoring a test set
(`score_test_set`), eval.py's evaluation job, resuming into a job folder, where a job logs, and the sweep's
MLflow parent run (a Hydra callback). Imports any layer below; only the entry points (`rcnn_se.cli`,
`rcnn_se.config`'s resolvers and job start, `rcnn_se.eval_cli`, train.py, eval.py) import it.
"""

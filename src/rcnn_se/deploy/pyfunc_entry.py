"""The file MLflow logs as the model's code ("models from code"): it names the model object, so loading a
model runs this package's code instead of unpickling an object."""

import mlflow.models

from rcnn_se.deploy.pyfunc_model import WaveformEnhancer

mlflow.models.set_model(WaveformEnhancer())

"""Training, evaluation and prediction on the user's data (or the bundled digits)."""

from .config import RECIPES, TrainConfig
from .loop import TrainingDiverged, train
from .predict import evaluate, load_trained, predict

__all__ = ["TrainConfig", "RECIPES", "train", "TrainingDiverged", "evaluate", "predict",
           "load_trained"]

"""Training, evaluation and prediction on the user's data (or the bundled digits)."""

from .config import RECIPES, Recipe, TrainConfig
from .inference import evaluate, load_runner, predict
from .trainer import TrainingDiverged, TrainingInterrupted, train

__all__ = ["TrainConfig", "Recipe", "RECIPES", "train", "TrainingDiverged",
           "TrainingInterrupted", "evaluate", "predict", "load_runner"]

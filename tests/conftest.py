import os

# Keras 3 needs its backend chosen before it is imported; without TensorFlow only torch works.
os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("dsconv", deadline=None, max_examples=40)
settings.load_profile("dsconv")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

"""dsconv: depthwise separable convolutions and the networks built from them."""

from .models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "__version__"]

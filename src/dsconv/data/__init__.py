"""Data: image folders, the bundled digits, a procedural shapes set, series (aeon, .npz, .ts),
parallel text for translation (PREFIX.SRC-TGT, .tsv; a sentencepiece tokenizer), ImageNet
conventions; deterministic sampling. `modalities` says which kind a spec or a model
file holds, and does each kind's part (sets, preprocessing record, predict inputs)."""

from .digits import digits
from .imagenet import decode_predictions, imagenet_classes, preprocess_input
from .images import (
    IMAGE_EXTENSIONS,
    DataConfig,
    ImageFolder,
    TensorImages,
    collate,
    find_images,
    image_folders,
    labelled_images,
)
from .modalities import (
    DataSettings,
    ImagePreprocess,
    Modality,
    TextModality,
    TrainingData,
    image_preprocess,
    labelled_split,
    modality_named,
    modality_of,
    modality_of_model,
    read_preprocess,
)
from .preprocess import Preprocess
from .sampling import epoch_batches, epoch_order, sample_generator, split_batch
from .series import (
    SeriesDataset,
    SeriesPreprocess,
    labelled_series,
    list_aeon_datasets,
    load_series,
    read_series_file,
)
from .series_io import SERIES_SUFFIXES, as_series_list
from .synthetic import DEFAULT_SIZE as SYNTHETIC_SIZE
from .synthetic import load_synthetic, shapes
from .text import (
    ParallelSpec,
    TextPreprocess,
    TranslationPairs,
    parallel_spec,
    read_pairs,
)
from .tokenizer import Tokenizer
from .transforms import NORMALIZATIONS, normalize, open_image

__all__ = ["digits", "decode_predictions", "imagenet_classes", "preprocess_input",
           "IMAGE_EXTENSIONS", "DataConfig", "ImageFolder", "TensorImages", "collate",
           "find_images", "image_folders", "labelled_images", "labelled_split", "epoch_order",
           "epoch_batches", "split_batch",
           "sample_generator", "NORMALIZATIONS", "normalize", "open_image", "SeriesDataset",
           "SeriesPreprocess", "list_aeon_datasets", "load_series",
           "labelled_series", "read_series_file", "SERIES_SUFFIXES", "as_series_list",
           "SYNTHETIC_SIZE", "load_synthetic", "shapes", "DataSettings", "ImagePreprocess",
           "Modality", "Preprocess", "TrainingData", "image_preprocess", "modality_named",
           "modality_of", "modality_of_model", "read_preprocess", "ParallelSpec", "TextModality",
           "TextPreprocess", "Tokenizer", "TranslationPairs", "parallel_spec", "read_pairs"]

"""Data: image datasets (IDX, CIFAR-10, sklearn digits), batching, procedural task generators."""

from brainlearn.data.batching import accuracy, minibatches
from brainlearn.data.images import DATASETS, ImageData, ImageDataConfig, load_images

__all__ = ["DATASETS", "ImageData", "ImageDataConfig", "accuracy", "load_images", "minibatches"]

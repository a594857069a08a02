"""Photos and labels: the embedded sample set, folder datasets, torch datasets."""

from .classes import class_name, imagenet_classes, imagenet_wnids, parse_label
from .folders import csv_photos, folder_photos, resolve_photos
from .samples import SamplePhoto, sample_photos, test_photos

__all__ = [
    "SamplePhoto",
    "class_name",
    "csv_photos",
    "folder_photos",
    "imagenet_classes",
    "imagenet_wnids",
    "parse_label",
    "resolve_photos",
    "sample_photos",
    "test_photos",
]

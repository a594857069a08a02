"""Photos and labels: the embedded sample set, folders and CSV lists, ImageNet classes, and the one image
decoder (:func:`decode_image`)."""

from .classes import class_name, imagenet_classes, imagenet_wnids, parse_label
from .folders import LABELS, csv_photos, folder_classes, folder_photos, resolve_photos
from .images import DecodedImage, decode_image, read_image
from .samples import SamplePhoto, label_from_name, sample_photos, test_photos

__all__ = [
    "LABELS",
    "DecodedImage",
    "SamplePhoto",
    "class_name",
    "csv_photos",
    "decode_image",
    "folder_classes",
    "folder_photos",
    "imagenet_classes",
    "imagenet_wnids",
    "label_from_name",
    "parse_label",
    "read_image",
    "resolve_photos",
    "sample_photos",
    "test_photos",
]

"""Photos and labels: the embedded sample set, folder datasets, torch datasets."""

from .samples import SamplePhoto, sample_photos, test_photos

__all__ = ["SamplePhoto", "sample_photos", "test_photos"]

"""Classifiers and compressed-domain networks (import the submodules: ``codeclens.models.resnet`` etc.)."""

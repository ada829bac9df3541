"""Acquisition functions over architectures and their optimiser (``bonas.acquisition``)."""

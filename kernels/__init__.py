"""Distances between architectures and the GP kernels built on them (``bonas.kernels``).

The OTMANN distance, edit distances and Weisfeiler-Lehman features land here.
"""

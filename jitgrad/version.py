"""The version of jitgrad (also written into the notes of generated kernels)."""
__version__ = "0.1.0"

"""edgekit: take a trained Keras model to phones and browsers.

Importing this package loads no TensorFlow; heavy modules are imported where they are used.
"""
__version__ = "0.3.0"

"""Converters, one module per artifact format, each imported lazily by the pipeline."""

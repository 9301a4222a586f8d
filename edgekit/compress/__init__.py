"""Training-time compression (recipe steps): prune, cluster, qat, trained once for all targets.

`edgekit.compress.run.apply_recipe` is the entry point; this package imports TensorFlow lazily.
"""

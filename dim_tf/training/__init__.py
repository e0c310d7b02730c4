"""Training: strategies, the Trainer and its builder, the loop, checkpoints.

Its config fields and their choices are in `settings`, free of TensorFlow.
"""

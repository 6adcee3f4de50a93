"""Experiments over the pipeline's outputs: ``steering`` (does conditioning steer the model?)."""

# Bump when the experiment measures differently for the same blocks and options.
REVISION = "1"

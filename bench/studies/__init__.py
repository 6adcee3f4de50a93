"""One-off studies behind figures in BENCHMARKS.md: labeler quality on the dev sets (``label_quality``, with
``tag_quality``'s measures), the sentiment judges of the steering experiment, the mood calibration."""

"""Corpus builders for benchmarks and studies: dev sets of openly licensed, human-labelled text from package
registries (``devsets``) and the near-duplicate corpus (``dedup_corpus``). The steering experiment's fiction
comes from the package (``condpt sample --mix fiction=1``)."""

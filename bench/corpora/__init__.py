"""Corpus builders for benchmarks and studies: dev sets of openly licensed, human-labelled text from package
registries (``devsets``), the near-duplicate corpus (``dedup_corpus``) and fiction passages for the steering
experiment's inbox (``fiction_shard``)."""

"""Corpus hygiene before labeling: quality filters (datatrove), near-duplicates (datasketch MinHash LSH) and
PII redaction. Dagster-free; the ``clean_documents`` stage composes them."""

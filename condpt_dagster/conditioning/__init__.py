"""What data preparation, training and evaluation share about conditioned text: the header templates, the
tokenizer that keeps document text out of the control tokens, the packed block format, held-out documents and
the label values a model has seen. Below stages/, training/ and evaluation/; Dagster-free."""

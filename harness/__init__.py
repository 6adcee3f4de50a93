"""What the end-to-end tests and the deployment benchmarks share: starting ``dagster dev`` and the production
deployment (PostgreSQL, code server, webserver, daemon), a local S3 server, and a headless browser. Not part
of the installed package; imported from the repository root (``tests/e2e``, ``bench``)."""

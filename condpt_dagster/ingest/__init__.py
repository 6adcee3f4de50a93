"""Reading source files: the record formats a shard may hold (``records``) and registering files dropped into
the lake's inbox (``inbox``). The ``raw_documents`` stage turns the records into the raw Parquet shard."""

"""Reading the audit database the ``label_audit`` stage writes: read-only SQL with limits (``access``) and the
document card an auditor prints for one document (``card``)."""

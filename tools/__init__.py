"""Tools that write files shipped inside the package (tools/README.md)."""

"""authoring layer of the course package (see course/__init__.py)."""

"""Command-line support: parsing and refusing user input before JAX is imported, and a quiet
start (third-party start-up noise filtered at its source)."""

"""Media domain services."""

"""The non-HTTP doors mail comes in by; each maps the pipeline's errors to its protocol."""

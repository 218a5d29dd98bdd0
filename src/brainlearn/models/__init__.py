"""One module per published model."""

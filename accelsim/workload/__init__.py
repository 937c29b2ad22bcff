"""The model library, precision schemes and the decoding search model."""

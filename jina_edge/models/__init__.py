"""The model store: the catalogue of known models, installed GGUFs, and checks on model files."""

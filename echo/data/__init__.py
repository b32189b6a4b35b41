"""Kaldi data directories, datasets over feature dumps, and batch samplers."""

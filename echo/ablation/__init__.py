"""Ablations: reading a set of training experiments (runs), their report (ABLATION.md) and figures."""

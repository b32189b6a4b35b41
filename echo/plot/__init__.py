"""Figures: rotary similarity maps, learning curves, spectrograms with F0."""

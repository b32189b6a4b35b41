"""Greedy CTC and batched joint CTC/attention beam search."""

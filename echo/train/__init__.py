"""Training loop, checkpoints, schedules and distributed helpers."""

"""Command-line entry points: python -m echo.bin.<step>."""

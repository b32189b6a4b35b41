"""WER/CER with jiwer, sclite-style reports, RESULTS.md."""

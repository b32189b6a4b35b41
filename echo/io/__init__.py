"""What echo writes to disk, owned in one place (DESIGN §6b).

    atomic    every file write: temporary name in the same directory, fsync, rename, usual permissions
    assets    the files a model was trained with (token list, CMVN, feature config) and their provenance
    jobs      split -> run -> merge of the parallel jobs of a stage (dump_feats, decode)
    utts      the utterance iterator over wav.scp (+ segments)

Nothing here imports the model, the trainer or the decoder: every other package may import echo.io.
"""

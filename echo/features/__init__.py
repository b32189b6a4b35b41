"""Audio reading, fbank, F0 and pitch features, CMVN: the same code at dump and inference time."""

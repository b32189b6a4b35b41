"""echo: pitch-aware speech recognition (an encoder-decoder transformer whose rotary
position embedding is driven by the speaker's F0), with Kaldi-style recipes."""

__version__ = "0.1.0"


def load_model(path, device="cpu", **decode_options):
    """A packed model (model.echo, made by python -m echo.bin.pack) ready to transcribe:

        from echo import load_model
        m = load_model("model.echo", beam_size=4)
        records = m.transcribe(["a.wav", "recordings/", array_16k])   # the records of --format json

    Imported on first use, so `import echo` stays light."""
    from echo.decode.transcribe import Transcriber

    return Transcriber.load(path, device=device, **decode_options)

"""The process that runs libespeak-ng for echo.synth.espeak (started by it; not a public CLI).

espeak-ng keeps synthesis state in static C variables that no API call resets (the pitch-flutter
phase, the glottal phase, the automatic gain control, the echo buffer, ...), so the same request
synthesised twice in one process gives different samples. This worker initialises the engine once
and forks a child per request: every child starts from the same freshly initialised state, so the
same request always gives the same bytes, whatever was synthesised before.

It depends only on the standard library and espeakng_loader (it runs as a plain script).

Protocol, on stdin/stdout:
  startup  worker -> {"ok": true, "sample_rate": 22050}  (or {"ok": false, "error": ...})
  request  client -> one JSON line {"text", "voice", "pitch", "pitch_range", "rate", "word_gap",
                                     "ssml", "phonemes", "seed"}
  reply    worker -> {"ok": true, "nbytes": N} then N bytes of int16 native-endian samples,
                     or {"ok": false, "error": "..."}
"""
import os
import sys

# Run as a script, Python put echo/synth/ first on sys.path: drop it, so no module of ours shadows a library.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import ctypes  # noqa: E402
import json  # noqa: E402

import espeakng_loader  # noqa: E402

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
SSML = 0x10
PHONEMES = 0x100  # espeakPHONEMES: [[...]] in the text is espeak-ng phoneme mnemonics
# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE, PUNCTUATION, CAPITALS, WORDGAP = 1, 2, 3, 4, 5, 6, 7
EE_OK, EE_NOT_FOUND = 0, 2

SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def load_library():
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    return lib


def synthesize(lib, request: dict) -> bytes:
    """Runs in the forked child: one request to int16 sample bytes (raises ValueError/RuntimeError)."""
    chunks = []

    def collect(wav, n, events):
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = continue

    callback = SYNTH_CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_ng_SetRandSeed(int(request["seed"]))
    status = lib.espeak_SetVoiceByName(request["voice"].encode())
    if status == EE_NOT_FOUND:
        raise ValueError(f"unknown espeak-ng voice {request['voice']!r}")
    if status != EE_OK:
        raise RuntimeError(f"espeak_SetVoiceByName({request['voice']!r}) failed with status {status}")
    for param, key in ((RATE, "rate"), (PITCH, "pitch"), (RANGE, "pitch_range"), (WORDGAP, "word_gap")):
        status = lib.espeak_SetParameter(param, int(request[key]), 0)
        if status != EE_OK:
            raise RuntimeError(f"espeak_SetParameter({key}={request[key]}) failed with status {status}")
    text = request["text"].encode("utf-8")
    flags = CHARS_UTF8 | (SSML if request["ssml"] else 0) | (PHONEMES if request.get("phonemes") else 0)
    status = lib.espeak_Synth(text, len(text) + 1, 0, POS_CHARACTER, 0, flags, None, None)
    if status != EE_OK:
        raise RuntimeError(f"espeak_Synth failed with status {status}")
    lib.espeak_Synchronize()
    return b"".join(chunks)


def write_all(fd: int, data: bytes):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def serve_one(lib, request: dict) -> tuple[dict, bytes]:
    """Forks a child from the pristine engine state, lets it synthesise, collects its reply."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: synthesise, write "<header>\n<samples>", exit without any Python cleanup
        os.close(read_fd)
        try:
            samples = synthesize(lib, request)
            write_all(write_fd, json.dumps({"ok": True, "nbytes": len(samples)}).encode() + b"\n" + samples)
            code = 0
        except Exception as e:  # reported to the client, which raises it
            kind = "value" if isinstance(e, ValueError) else "runtime"
            write_all(write_fd, json.dumps({"ok": False, "kind": kind, "error": str(e)}).encode() + b"\n")
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    reply = read_all(read_fd)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    header, _, samples = reply.partition(b"\n")
    try:
        meta = json.loads(header)
    except ValueError:
        meta = None
    if meta is None or status != 0 or (meta.get("ok") and len(samples) != meta["nbytes"]):
        reason = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"
        return {"ok": False, "kind": "runtime", "error": f"espeak-ng synthesis process died ({reason})"}, b""
    return meta, samples


def main():
    out = sys.stdout.buffer
    lib = load_library()
    data_path = espeakng_loader.get_data_path().encode()
    sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, INITIALIZE_DONT_EXIT)
    if sample_rate <= 0:
        out.write(json.dumps({"ok": False, "error": f"espeak_Initialize failed ({sample_rate})"}).encode() + b"\n")
        out.flush()
        return 1
    out.write(json.dumps({"ok": True, "sample_rate": sample_rate}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        meta, samples = serve_one(lib, json.loads(line))
        out.write(json.dumps(meta).encode() + b"\n" + samples)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

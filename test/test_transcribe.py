"""The packed model and echo-transcribe: pack -> transcribe gives echo.bin.decode's hypotheses, mixed and
broken inputs are counted and named, word times from the CTC alignment match the known truth, bad
model files are one-line errors, the Python API returns the JSON records."""
import io
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

import tone_words as tw
from echo.bin import decode as decode_cli
from echo.bin import pack as pack_cli
from echo.bin import transcribe as transcribe_cli
from echo.data.datadir import read_kv_dict
from echo.decode.align import FrameTimes, ctc_align, word_spans
from echo.decode.inputs import chunk_bounds
from echo.io import atomic, packed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    return tw.make_exp(tmp_path_factory.mktemp("tone_words"))


@pytest.fixture(scope="module")
def model_file(exp):
    conf = exp.parent.parent / "decode.yaml"
    conf.write_text("beam_size: 3\nctc_weight: 0.3\nbatch_size: 4\nnbest: 2\n")
    out = exp / "model.echo"
    assert pack_cli.main(["--exp", str(exp), "--decode-config", str(conf), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def test_audio(tmp_path_factory):
    """12 sentences of unseen word durations and gaps as 16 kHz WAV files, and their truth."""
    d = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(123)
    truth = {}
    for i in range(12):
        wave, text, times = tw.sentence(rng)
        sf.write(d / f"s{i:02d}.wav", wave, tw.RATE)
        truth[str(d / f"s{i:02d}.wav")] = (text, times)
    return d, truth


def transcribe(args, capsys) -> tuple[int, str, str]:
    rc = transcribe_cli.main(args)
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------------------------------------ the file

def test_packed_file_loads_weights_only_and_holds_everything(exp, model_file):
    obj = torch.load(model_file, weights_only=True)
    assert obj["format"] == "echo-packed-model" and obj["format_version"] == packed.FORMAT_VERSION
    assert obj["model"]["checkpoint"] == "valid.loss.ave_1best.pt"
    assert obj["tokens"]["list"] == (exp / "token_list" / "tokens.txt").read_text().split()
    assert obj["tokens"]["type"] == "word" and obj["tokens"]["sp_model"] is None
    assert obj["features"]["n_mels"] == 23 and obj["decode"]["beam_size"] == 3
    assert obj["cmvn"]["mean"].dtype == torch.float64 and obj["cmvn"]["mean"].shape == (23,)
    assert obj["train_data"]["name"] == f"{exp.parent.parent.name}/train" and obj["echo_version"]  # recipe/set


def test_old_newer_and_foreign_files_are_one_line_errors(exp, model_file, tmp_path):
    obj = torch.load(model_file, weights_only=True)
    for version, hint in ((0, "pack it again"), (2, "upgrade echo")):
        torch.save(dict(obj, format_version=version), tmp_path / "v.echo")
        with pytest.raises(packed.PackedModelError, match=f"format version {version} .*{hint}") as e:
            packed.read_packed(tmp_path / "v.echo")
        assert "\n" not in str(e.value)
    with pytest.raises(packed.PackedModelError, match="not a packed echo model .*echo.bin.pack"):
        packed.read_packed(exp / "valid.loss.ave_1best.pt")
    (tmp_path / "x.echo").write_bytes(b"RIFF not a torch file")
    with pytest.raises(atomic.CorruptFileError, match="x.echo"):
        packed.read_packed(tmp_path / "x.echo")
    with pytest.raises(SystemExit, match="echo-transcribe: .*not a packed echo model"):
        transcribe_cli.main(["--model", str(exp / "valid.loss.ave_1best.pt"), str(tmp_path)])


def test_pack_refuses_assets_that_changed_since_training(exp, tmp_path):
    import shutil

    other = tmp_path / "exp" / "t"
    shutil.copytree(exp, other)
    (other / "token_list" / "tokens.txt").write_text("<blank>\n<unk>\nfive\nfour\none\nthree\ntwo\n<sos/eos>\n")
    with pytest.raises(SystemExit, match="tokens.txt: differs from what .*assets.json recorded"):
        pack_cli.main(["--exp", str(other), "--out", str(tmp_path / "m.echo")])
    assert not (tmp_path / "m.echo").exists()


# ------------------------------------------------------------------------------------------------ decoding

def test_pack_then_transcribe_equals_decode(exp, model_file, test_audio, tmp_path, capsys):
    """The same audio through echo.bin.decode (a raw data dir, the experiment's checkpoint) and through
    echo-transcribe (the packed model, its packed decode config): the same n-best, the same scores."""
    audio, truth = test_audio
    data = tmp_path / "data"
    data.mkdir()
    paths = sorted(truth)
    (data / "wav.scp").write_text("".join(f"u{i:02d} {p}\n" for i, p in enumerate(paths)))
    (data / "utt2spk").write_text("".join(f"u{i:02d} u{i:02d}\n" for i in range(len(paths))))
    decode_cli.main(["--model", str(exp / "valid.loss.ave_1best.pt"), "--data", str(data), "--out",
                     str(tmp_path / "dec"), "--beam-size", "3", "--ctc-weight", "0.3", "--nbest", "2"])
    rc, out, err = transcribe(["--model", str(model_file), str(audio), "--format", "json"], capsys)
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == paths
    for rank in (1, 2):
        text = read_kv_dict(tmp_path / "dec" / f"{rank}best_recog" / "text", allow_empty=True)
        score = read_kv_dict(tmp_path / "dec" / f"{rank}best_recog" / "score")
        for i, r in enumerate(records):
            assert r["nbest"][rank - 1]["text"] == text[f"u{i:02d}"]
            assert r["nbest"][rank - 1]["score"] == pytest.approx(float(score[f"u{i:02d}"]), abs=1e-3)
    # and the model is a real one: its CTC transcribes unseen sentences (its attention decoder, trained for
    # seconds, inserts words: 5 of 12 right at CTC weight 0.3); --ctc-weight overrides the packed config
    rc, out, _ = transcribe(["--model", str(model_file), str(audio), "--format", "json", "--ctc-weight", "1"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    correct = sum(r["transcript"] == truth[r["path"]][0] for r in records)
    assert correct >= 11, [(r["transcript"], truth[r["path"]][0]) for r in records]


def test_word_start_times_match_the_truth(model_file, test_audio):
    """CTC forced alignment + encoder-frame times put every word's span inside the word (CTC spikes fall
    within a word, not at its start); snapped to the speech around them, word starts are within 80 ms of
    where the tone starts for >= 90 % of words."""
    from echo import load_model

    _, truth = test_audio
    m = load_model(model_file, mode="greedy_ctc")
    for snap in (False, True):
        m.snap = snap
        errors = []
        for r in m.transcribe(sorted(truth)):
            text, times = truth[r["path"]]
            if r["transcript"] != text:
                continue
            assert [w["word"] for w in r["words"]] == text.split()
            assert all(0 <= w["start"] < w["end"] <= r["duration"] for w in r["words"])
            if not snap:   # the aligned span lies within the word (one encoder frame of slack)
                assert all(s - 0.04 <= w["start"] < w["end"] <= e + 0.04 for w, (_, s, e) in zip(r["words"], times))
            errors += [abs(w["start"] - start) for w, (_, start, _) in zip(r["words"], times)]
        assert len(errors) >= 20
    assert np.mean(np.array(errors) < 0.080) >= 0.9, sorted(errors)


# ------------------------------------------------------------------------------------------------ inputs

@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory):
    """A folder of: 8 kHz WAV, 44.1 kHz stereo FLAC, 48 kHz MP3, a non-audio file, a corrupt WAV, a 20 ms
    WAV and a 3-minute WAV (silence-separated sentences); and their truths where known."""
    import soxr

    d = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(7)
    truth = {}
    for name, rate, channels, fmt in (("a8k.wav", 8000, 1, None), ("b44k.flac", 44100, 2, None),
                                      ("c48k.mp3", 48000, 1, "MP3")):
        wave, text, _ = tw.sentence(rng, 3)
        wave = soxr.resample(wave, tw.RATE, rate).astype(np.float32)
        if channels == 2:   # the left channel at half level: downmixing averages the channels
            wave = np.stack([0.5 * wave, 1.5 * wave], axis=1)
        sf.write(d / name, wave, rate, format=fmt)
        truth[name] = text
    (d / "notes.txt").write_text("not audio\n")
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    sf.write(d / "short.wav", np.zeros(320, dtype=np.float32), tw.RATE)
    parts, texts = [], []
    while sum(map(len, parts)) < 180 * tw.RATE:
        wave, text, _ = tw.sentence(rng)
        parts.append(wave)
        texts.append(text)
    sf.write(d / "long.wav", np.concatenate(parts), tw.RATE)
    truth["long.wav"] = " ".join(texts)
    return d, truth


def test_mixed_inputs_count_failures_and_exit_status(model_file, mixed_inputs, tmp_path, capsys):
    d, truth = mixed_inputs
    out = tmp_path / "out.jsonl"
    # chunks of at most 3 s: the model never heard more than 3 s at once (at 15 s its WER is 70 %)
    rc, _, err = transcribe(["--model", str(model_file), str(d), "--format", "json", "--out", str(out),
                             "--mode", "greedy_ctc", "--max-chunk-seconds", "3"], capsys)
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(records) == ["a8k.wav", "b44k.flac", "c48k.mp3", "corrupt.wav", "long.wav", "short.wav"]
    assert rc == 2
    assert "corrupt.wav" in records["corrupt.wav"]["error"] and "corrupt.wav" in err
    assert "too short" in records["short.wav"]["error"] and "short.wav" in err
    assert "1 file(s) that are not audio" in err
    assert "%|" not in err          # no progress bar when stderr is not a terminal
    for name in ("a8k.wav", "b44k.flac", "c48k.mp3"):
        assert records[name]["error"] is None and records[name]["duration"] == pytest.approx(
            sf.info(d / name).duration, abs=0.06), name
    # resampled and downmixed right: the model (trained at 16 kHz) reads 44.1 and 48 kHz; at 8 kHz the bands
    # above 4 kHz are empty, which it never saw in training, so its transcript is not checked
    for name in ("b44k.flac", "c48k.mp3"):
        assert records[name]["transcript"] == truth[name], name
    long = records["long.wav"]
    assert long["duration"] >= 180
    chunks = long["chunks"]
    assert len(chunks) >= 60 and all(c["end"] - c["start"] <= 3.0 + 0.1 for c in chunks)
    assert chunks[0]["start"] == 0 and chunks[-1]["end"] == long["duration"]
    assert all(a["end"] == b["start"] for a, b in zip(chunks, chunks[1:]))
    import jiwer   # nothing lost at the cuts or at the end: the word count holds, the WER is low
    assert len(long["transcript"].split()) == pytest.approx(len(truth["long.wav"].split()), rel=0.03)
    assert jiwer.wer(truth["long.wav"], long["transcript"]) < 0.05
    starts = [w["start"] for w in long["words"]]
    assert starts == sorted(starts) and starts[-1] > 170   # word times offset by their chunk's start

    # text: one line per transcribed file; the exit status says how many failed
    rc, text, err = transcribe(["--model", str(model_file), str(d / "b44k.flac"), str(d / "corrupt.wav"),
                                str(tmp_path / "missing.flac"), "--mode", "greedy_ctc"], capsys)
    assert rc == 2 and text == f"{d / 'b44k.flac'}\t{truth['b44k.flac']}\n"
    assert "missing.flac: no such file" in err


def test_wav_scp_stdin_ctm_srt_and_two_jobs(model_file, test_audio, tmp_path, capsys, monkeypatch):
    audio, truth = test_audio
    paths = sorted(truth)[:4]
    scp = tmp_path / "wav.scp"
    scp.write_text(f"k1 {paths[0]}\nk2 cat {paths[1]} |\n")
    rc, ctm, _ = transcribe(["--model", str(model_file), str(scp), "--format", "ctm", "--ctc-weight", "1"], capsys)
    assert rc == 0
    rows = [line.split() for line in ctm.splitlines()]
    assert [r[4] for r in rows] == truth[paths[0]][0].split() + truth[paths[1]][0].split()
    assert {r[0] for r in rows} == {"k1", "k2"} and all(r[1] == "1" and float(r[3]) > 0 for r in rows)

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(paths) + "\n"))
    rc, one, _ = transcribe(["--model", str(model_file), "-", "--nj", "1"], capsys)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(paths) + "\n"))
    rc2, two, _ = transcribe(["--model", str(model_file), "-", "--nj", "2"], capsys)
    assert rc == rc2 == 0 and one == two and len(one.splitlines()) == 4

    rc, _, _ = transcribe(["--model", str(model_file), *paths[:2], "--format", "srt", "--out", str(tmp_path / "srt")],
                          capsys)
    srt = (tmp_path / "srt" / f"{Path(paths[0]).stem}.srt").read_text()
    assert srt.startswith("1\n00:00:00,") and " --> " in srt
    assert " ".join(line for line in srt.splitlines() if line and not line[0].isdigit()) == truth[paths[0]][0]


def test_console_script_is_declared_and_help_runs():
    assert "echo-transcribe = echo.bin.transcribe:main" in (ROOT / "setup.py").read_text()
    r = subprocess.run([sys.executable, "-m", "echo.bin.transcribe", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--format" in r.stdout


def test_import_echo_stays_light():
    r = subprocess.run([sys.executable, "-c", "import sys, echo; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------ pieces

def collapse(path, blank=0):
    return [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]


def test_ctc_align_is_the_best_path_of_the_tokens():
    """Against brute force over every path of 6 frames: the Viterbi spans are those of the best path
    that collapses to the tokens; a sequence that cannot fit gives None."""
    torch.manual_seed(0)
    T, V = 6, 4
    logp = torch.randn(T, V).log_softmax(-1)
    for tokens in ([1, 2], [2, 2], [3, 1, 3], [1]):
        best, best_path = -math.inf, None
        for path in itertools.product(range(V), repeat=T):
            if collapse(path) == tokens:
                s = float(sum(logp[t, c] for t, c in enumerate(path)))
                if s > best:
                    best, best_path = s, path
        spans = ctc_align(logp, tokens)
        k, expected = -1, []
        for t, c in enumerate(best_path):
            if c != 0 and (t == 0 or c != best_path[t - 1]):
                k += 1
                expected.append([t, t])
            elif c != 0:
                expected[k][1] = t
        assert [list(s) for s in spans] == expected, tokens
    assert ctc_align(logp, [1, 1, 1, 1]) is None   # needs 7 frames
    # and on a peaky posteriorgram it finds the spikes
    spiky = torch.full((10, 4), -9.0)
    spiky[:, 0] = 0.0
    spiky[2, 1] = spiky[3, 1] = spiky[7, 3] = 0.0
    spiky[2, 0] = spiky[3, 0] = spiky[7, 0] = -9.0
    assert ctc_align(F.log_softmax(spiky, -1), [1, 3]) == [(2, 3), (7, 7)]


def test_word_spans_of_word_bpe_and_char_units():
    spans = [(0, 0), (2, 2), (4, 5), (7, 7), (9, 9)]
    assert word_spans(["▁one", "▁t", "wo", "▁", "x"], spans, "bpe") == [("one", 0, 0), ("two", 2, 5), ("x", 9, 9)]
    assert word_spans(["o", "n", "<space>", "t", "o"], spans, "char") == [("on", 0, 2), ("to", 7, 9)]
    assert word_spans(["one", "two"], spans[:2], "word") == [("one", 0, 0), ("two", 2, 2)]


def test_frame_times_follow_the_subsampling_receptive_field():
    from echo.features.config import FeatureConfig
    from echo.model.echo import EchoConfig, EchoModel

    model = EchoModel(EchoConfig(idim=23, vocab_size=8, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ff_dim=32))
    ft = FrameTimes.of(model, FeatureConfig(n_mels=23))
    # x4: encoder frame j sees fbank frames 4j..4j+6, i.e. samples [640j, 640j + 96 + 400): centre 40j + 42.5 ms
    assert ft.stride_s == pytest.approx(0.04) and ft.centre0_s == pytest.approx(0.0425)
    assert ft.start(10) == pytest.approx(0.4225) and ft.end(10) == pytest.approx(0.4625)


def test_chunks_cut_long_audio_at_quiet_points_and_tile_it():
    rng = np.random.default_rng(0)
    rate = 1000
    wave = rng.standard_normal(95 * rate).astype(np.float32)
    wave[40 * rate:40 * rate + 300] = 0.0          # a pause in the window of the first cut
    bounds = chunk_bounds(wave, rate, 30.0)
    assert bounds[0] == (0, bounds[0][1]) and bounds[-1][1] == len(wave)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))          # tiles: nothing dropped
    assert all(0 < last - first <= 30 * rate for first, last in bounds)
    assert 15 * rate <= bounds[0][1] <= 30 * rate
    short = np.zeros(10 * rate, dtype=np.float32)
    assert chunk_bounds(short, rate, 30.0) == [(0, len(short))]
    # a sliver too short to decode after the last cut joins the chunk before it
    quiet_end = rng.standard_normal(30 * rate + 50).astype(np.float32)
    quiet_end[int(29.9 * rate):] = 0.0                    # the quietest point is within 50 samples of the end
    assert len(chunk_bounds(quiet_end, rate, 30.0)) == 2
    assert chunk_bounds(quiet_end, rate, 30.0, min_samples=200) == [(0, len(quiet_end))]


def test_python_api_takes_arrays_and_paths(model_file, test_audio):
    from echo import load_model

    _, truth = test_audio
    path = sorted(truth)[0]
    wave, rate = sf.read(path, dtype="float32")
    m = load_model(model_file, beam_size=2)
    a, b, c = m.transcribe([path, wave, (np.repeat(wave, 2)[:, None].repeat(2, 1), 2 * rate)])
    assert a["transcript"] == b["transcript"] == truth[path][0]
    assert c["transcript"] == truth[path][0] and c["duration"] == pytest.approx(a["duration"], abs=0.01)
    assert set(a) >= {"transcript", "nbest", "duration", "rtf", "words", "error"}


def test_bpe_model_packs_its_sentencepiece_model(tmp_path):
    """A sentencepiece token list travels as bytes: the packed model tokenises as the exp dir's files do,
    without them."""
    import dataclasses
    import shutil

    from echo.decode.recognizer import Recognizer
    from echo.features.cmvn import CMVN
    from echo.features.config import FeatureConfig
    from echo.model.echo import EchoConfig, EchoModel, save_model
    from echo.text.tokenizer import build_token_list

    texts = ["one two three", "four five six", "seven eight nine", "three one four one five nine two six"] * 5
    tok = build_token_list(texts, "bpe", tmp_path / "token_list", nbpe=20)
    exp = tmp_path / "exp" / "b"
    exp.mkdir(parents=True)
    shutil.copytree(tmp_path / "token_list", exp / "token_list")
    cfg = EchoConfig(idim=23, vocab_size=tok.vocab_size, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ff_dim=32)
    save_model(exp / "epoch1.pt", EchoModel(cfg).state_dict(), dataclasses.asdict(cfg))
    FeatureConfig(n_mels=23).to_yaml(exp / "feats.yaml")
    CMVN(np.zeros(23), np.ones(23), 1).save(exp / "cmvn.npz")
    assert pack_cli.main(["--exp", str(exp), "--out", str(tmp_path / "b.echo")]) == 0
    shutil.rmtree(exp)
    shutil.rmtree(tmp_path / "token_list")
    rec = Recognizer.from_packed(tmp_path / "b.echo")
    assert rec.tokenizer.token_type == "bpe" and rec.packed_info["checkpoint"] == "epoch1.pt"
    ids = rec.tokenizer.encode("three one four nine")
    assert ids == tok.encode("three one four nine") and rec.tokenizer.decode(ids) == "three one four nine"
    strings = [rec.tokenizer.tokens[i] for i in ids]
    spans = [(k, k) for k in range(len(ids))]
    words = word_spans(strings, spans, "bpe", rec.tokenizer.sp.decode)
    assert [w for w, _, _ in words] == "three one four nine".split()

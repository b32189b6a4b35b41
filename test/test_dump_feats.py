"""echo.bin.dump_feats: ark/scp round trip, nj equivalence, segments, pipes, bad input, killed jobs."""
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from echo.bin.dump_feats import main as dump_feats
from echo.data.datadir import read_kv, read_kv_dict
from echo.data.validate import validate_data_dir
from echo.features.audio import load_audio
from echo.features.config import FeatureConfig
from echo.features.extract import extract_features

FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"
NAMES = ["0_jackson_0", "1_george_2", "2_lucas_3", "3_nicolas_4", "4_theo_5", "5_yweweler_6",
         "6_jackson_7", "7_george_8"]


@pytest.fixture
def recordings():
    d = FSDD / "recordings"
    if not d.is_dir():
        pytest.skip(f"FSDD not found at {FSDD}")
    return {name: d / f"{name}.wav" for name in NAMES}


def write_data_dir(d: Path, wav: dict, segments: dict | None = None) -> Path:
    """A Kaldi data dir; utt ids are 'spk-rest', wav maps reco (= utt without segments) → entry."""
    d.mkdir(parents=True, exist_ok=True)
    utts = sorted(segments or wav)
    (d / "wav.scp").write_text("".join(f"{k} {wav[k]}\n" for k in sorted(wav)))
    if segments:
        (d / "segments").write_text("".join(f"{u} {' '.join(map(str, segments[u]))}\n" for u in utts))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    spk2utt = {}
    for u in utts:
        spk2utt.setdefault(u.split("-")[0], []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    (d / "text").write_text("".join(f"{u} words of {u}\n" for u in utts))
    return d


def fsdd_data_dir(tmp_path, recordings) -> Path:
    wav = {f"{n.split('_')[1]}-{n}": str(p) for n, p in recordings.items()}
    wav["george-1_george_2"] = f"cat {recordings['1_george_2']} |"   # a Kaldi pipe entry
    return write_data_dir(tmp_path / "data" / "train", wav)


def load_dir(out: Path, name="feats.scp") -> dict:
    return {k: v for k, v in kaldiio.load_scp_sequential(str(out / name))}


def test_round_trip_and_nj_equivalence(tmp_path, recordings):
    data = fsdd_data_dir(tmp_path, recordings)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig(append_pitch=True).to_yaml(conf_path)
    out1, out4 = tmp_path / "dump1", tmp_path / "dump4"
    dump_feats(["--data", str(data), "--out", str(out1), "--conf", str(conf_path), "--nj", "1"])
    dump_feats(["--data", str(data), "--out", str(out4), "--conf", str(conf_path), "--nj", "4"])

    feats1, feats4 = load_dir(out1), load_dir(out4)
    f0_1, f0_4 = load_dir(out1, "f0.scp"), load_dir(out4, "f0.scp")
    assert list(feats1) == list(feats4) == sorted(feats1, key=str.encode)   # C order
    assert len(feats1) == 8
    for utt in feats1:
        assert feats1[utt].dtype == np.float32 and feats1[utt].shape[1] == 83
        assert np.array_equal(feats1[utt], feats4[utt]) and np.array_equal(f0_1[utt], f0_4[utt])
    # the parallel run really ran 4 jobs, each with its own ark and log
    assert len({rx.split(":")[0] for rx in read_kv_dict(out4 / "feats.scp").values()}) == 4
    assert all((out4 / "log" / f"dump_feats.{j}.log").is_file() for j in range(1, 5))

    # ark/scp round trip: what was stored is what extract_features computes from the wav.scp entry
    conf = FeatureConfig.from_yaml(out4 / "conf" / "feats.yaml")
    assert conf == FeatureConfig(append_pitch=True)
    wav = read_kv_dict(data / "wav.scp")
    frames = read_kv_dict(out4 / "utt2num_frames")
    for utt, stored in feats4.items():
        feats, f0 = extract_features(load_audio(wav[utt], conf.sample_rate), conf)
        assert np.array_equal(stored, feats) and np.array_equal(f0_4[utt], f0)
        assert f0_4[utt].ndim == 1 and int(frames[utt]) == len(stored)
    assert (out4 / "feats_dim").read_text().strip() == "83"
    for name in ("text", "utt2spk", "spk2utt", "wav.scp"):
        assert (out4 / name).read_text() == (data / name).read_text()
    validate_data_dir(out4)   # a valid data dir with feats.scp


def test_segments_and_utt2dur(tmp_path, recordings):
    """Segments cut a long recording exactly: each segment's features equal its source file's."""
    names = NAMES[:3]
    waves = [sf.read(recordings[n], dtype="int16")[0] for n in names]
    reco = tmp_path / "long.wav"
    sf.write(reco, np.concatenate(waves), 8000, subtype="PCM_16")
    segments, offset = {}, 0
    for n, w in zip(names, waves):
        segments[f"{n.split('_')[1]}-{n}"] = ("long", offset / 8000, (offset + len(w)) / 8000)
        offset += len(w)
    data = write_data_dir(tmp_path / "data" / "seg", {"long": str(reco)}, segments)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "dump"
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2",
                "--write-utt2dur"])
    stored = load_dir(out)
    durations = read_kv_dict(out / "utt2dur")
    for n, w in zip(names, waves):
        utt = f"{n.split('_')[1]}-{n}"
        feats, _ = extract_features(load_audio(str(recordings[n]), 16000), FeatureConfig())
        assert np.array_equal(stored[utt], feats)
        assert float(durations[utt]) == pytest.approx(len(w) / 8000, abs=1e-3)
    assert (out / "segments").read_text() == (data / "segments").read_text()
    validate_data_dir(out)


def bad_data_dir(tmp_path, recordings) -> tuple[Path, dict]:
    """3 good utterances and one of each kind of bad input, all through segments."""
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "corrupt.wav").write_bytes(b"RIFF" + np.random.default_rng(0).bytes(4000))
    sf.write(audio / "empty.wav", np.zeros(0, np.int16), 16000)
    sf.write(audio / "short.wav", np.zeros(160, np.float32) + 0.1, 16000)      # 10 ms < one 25 ms frame
    nan = np.full(16000, 0.1, np.float32)
    nan[500] = np.nan
    sf.write(audio / "nan.wav", nan, 16000, subtype="FLOAT")
    wav = {"good1": str(recordings[NAMES[0]]), "good2": f"cat {recordings[NAMES[1]]} |",
           "good3": str(recordings[NAMES[2]]), "corrupt": str(audio / "corrupt.wav"),
           "empty": str(audio / "empty.wav"), "short": str(audio / "short.wav"),
           "nan": str(audio / "nan.wav"), "pipe": "echo 'decoder exploded' >&2; exit 3 |"}
    segments = {"a-good1": ("good1", 0, 0.3), "a-good2": ("good2", 0.1, 0.4), "b-good3": ("good3", 0, 0.3),
                "a-corrupt": ("corrupt", 0, 1), "b-empty": ("empty", 0, 1), "b-short": ("short", 0, 0.01),
                "c-nan": ("nan", 0, 1), "c-pipe": ("pipe", 0, 1), "c-beyond": ("good3", 0.2, 5.0)}
    reasons = {"a-corrupt": "cannot read audio", "b-empty": "audio is empty",
               "b-short": "shorter than one frame", "c-nan": "1 NaN/Inf samples",
               "c-pipe": "exited with status 3: decoder exploded",
               "c-beyond": "segment end 5.0 s is beyond the file end"}
    return write_data_dir(tmp_path / "data" / "bad", wav, segments), reasons


def test_bad_utterances_fail_listing_all_or_are_skipped(tmp_path, recordings):
    data, reasons = bad_data_dir(tmp_path, recordings)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "dump"
    args = ["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "3"]

    # --skip-bad true: bad ones listed with reasons, dropped everywhere, the rest dumped
    dump_feats(args + ["--skip-bad", "true"])
    bad = read_kv_dict(out / "bad_utts")
    assert sorted(bad) == sorted(reasons)
    for utt, reason in reasons.items():
        assert reason in bad[utt] and utt in bad[utt]
    assert list(read_kv_dict(out / "feats.scp")) == ["a-good1", "a-good2", "b-good3"]
    assert list(read_kv_dict(out / "utt2spk")) == ["a-good1", "a-good2", "b-good3"]
    assert list(read_kv_dict(out / "text")) == ["a-good1", "a-good2", "b-good3"]
    assert read_kv(out / "spk2utt") == [("a", "a-good1 a-good2"), ("b", "b-good3")]
    assert list(read_kv_dict(out / "wav.scp")) == ["good1", "good2", "good3"]
    validate_data_dir(out)

    # default: the stage fails naming every bad utterance, and leaves no feats.scp (even though the
    # previous run had completed one)
    with pytest.raises(SystemExit) as e:
        dump_feats(args)
    message = str(e.value)
    assert "6 bad utterance(s)" in message and "--skip-bad true" in message
    for utt, reason in reasons.items():
        assert f"utt {utt}" in message and reason in message
    assert not (out / "feats.scp").exists()
    assert sorted(read_kv_dict(out / "bad_utts")) == sorted(reasons)


def test_killed_job_leaves_no_complete_looking_output(tmp_path, recordings):
    data = fsdd_data_dir(tmp_path, recordings)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "dump"
    args = ["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"]
    dump_feats(args)
    assert (out / "feats.scp").is_file()
    # Rerun where one job's process is killed (SIGKILL) while it reads its first utterance.
    wav = (data / "wav.scp").read_text().replace(f"cat {recordings['1_george_2']} |",
                                                 "kill -9 $PPID; sleep 1 |")
    (data / "wav.scp").write_text(wav)
    with pytest.raises(SystemExit, match="jobs failed"):
        dump_feats(args)
    assert not (out / "feats.scp").exists() and not (out / "f0.scp").exists()
    # the killed job wrote no part scp either (only its temp file), and no done marker
    assert not (out / "data" / "feats.1.scp").exists() and not (out / "data" / "done.1").exists()
    assert (out / "data" / "done.2").exists()


def test_cli_help_and_bad_config(tmp_path, recordings):
    py = sys.executable
    done = subprocess.run([py, "-m", "echo.bin.dump_feats", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--skip-bad" in done.stdout
    data = fsdd_data_dir(tmp_path, recordings)
    (tmp_path / "bad.yaml").write_text("f0_method: yin\n")
    done = subprocess.run([py, "-m", "echo.bin.dump_feats", "--data", str(data), "--out", str(tmp_path / "o"),
                           "--conf", str(tmp_path / "bad.yaml")], capture_output=True, text=True)
    assert done.returncode != 0 and "valid methods: dio, harvest, kaldi" in done.stderr


def _processes_mentioning(text: str) -> list[int]:
    """pids of living processes whose command line contains text."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_to_the_stage_kills_its_jobs_and_a_rerun_succeeds(tmp_path, recordings):
    """A scheduler or Ctrl-\\ kills a stage's whole process group: its jobs must die with it, not go on
    writing into dump/ while a rerun starts."""
    import os
    import signal
    import time

    wav = {f"{n.split('_')[1]}-{n}": f"sleep 5; cat {p} |" for n, p in recordings.items()}   # 20 s a job
    data = write_data_dir(tmp_path / "data" / "slow", wav)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "dump_killed"
    args = ["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"]
    stage = subprocess.Popen([sys.executable, "-m", "echo.bin.dump_feats", *args], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    logs = [out / "log" / f"dump_feats.{j}.log" for j in (1, 2)]
    deadline = time.time() + 60
    while not all(p.is_file() for p in logs) and time.time() < deadline:
        time.sleep(0.05)
    assert all(p.is_file() for p in logs), "the jobs never started"
    time.sleep(0.3)
    assert _processes_mentioning(str(out)), "no job is running"
    os.killpg(stage.pid, signal.SIGKILL)
    stage.wait()
    deadline = time.time() + 5
    while _processes_mentioning(str(out)) and time.time() < deadline:
        time.sleep(0.1)
    survivors = _processes_mentioning(str(out))
    for pid in survivors:   # (only when the test fails)
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "jobs outlived the killed stage"
    write_data_dir(data, {u: e.replace("sleep 5; ", "") for u, e in wav.items()})
    dump_feats(args)   # the rerun finds nothing of the killed run in its way
    assert len(read_kv(out / "feats.scp")) == 8 and not list(out.rglob(".*.tmp"))


def test_rerun_refused_while_jobs_of_an_earlier_run_still_write(tmp_path, recordings):
    data = fsdd_data_dir(tmp_path, recordings)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "dump"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from echo.io import jobs\n"
                               "with jobs.job_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(30)",
                               str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit, match="jobs of an earlier run of dump_feats are still writing"):
            dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"])
    finally:
        holder.kill()
        holder.wait()
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"])
    assert (out / "feats.scp").is_file()


def test_output_path_with_a_comma(tmp_path, recordings):
    from echo.data.dataset import EchoDataset

    data = fsdd_data_dir(tmp_path, recordings)
    conf_path = tmp_path / "fbank.yaml"
    FeatureConfig().to_yaml(conf_path)
    out = tmp_path / "runs,2026" / "dump"
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"])
    reference = tmp_path / "dump"
    dump_feats(["--data", str(data), "--out", str(reference), "--conf", str(conf_path), "--nj", "1"])
    got, want = load_dir(out), load_dir(reference)
    assert list(got) == list(want) and all(np.array_equal(got[u], want[u]) for u in got)
    ds = EchoDataset(out)
    assert len(ds) == 8 and np.array_equal(ds[0]["feats"].numpy(), want[ds.utt_ids[0]])

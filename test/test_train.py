"""Training: config handling, schedules, SpecAugment, validation helpers, OOM hints, and whole runs of
echo.bin.train on synthetic dumps (overfitting, a NaN batch, SIGKILL then resume, extending max_epoch).

Runs use one thread: a 20k-parameter model is fastest that way, and two spinning threads on a shared
2-core machine are many times slower.
"""
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from echo.bin import train
from echo.data.datadir import write_kv
from echo.features.cmvn import CMVNAccumulator
from echo.features.config import FeatureConfig
from echo.model.echo import EchoConfig
from echo.text.tokenizer import build_token_list
from echo.train import config
from echo.train.schedule import build_scheduler
from echo.train.specaug import SpecAugConfig, spec_augment
from echo.decode.beam_search import greedy_ctc
from echo.train.trainer import BatchOOMError, char_errors, oom_hint

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WORDS = ["ay", "bee", "see", "dee", "ee", "ef"]
TINY_MODEL = dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ff_dim=64, conv_channels=8)


# ---------------------------------------------------------------- synthetic data

def make_dump(d, n_utts=8, dim=16, seed=0, nan_utt=None, words_per_utt=3, frames_per_word=12):
    """A dump dir (feats.scp, f0.scp, utt2num_frames, feats_dim, text, conf/feats.yaml, cmvn.npz) of
    utterances made of one prototype vector per word plus noise, so that words can be learnt."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(123).normal(size=(len(WORDS), dim)) * 2
    feats, f0s, text = {}, {}, {}
    for u in range(n_utts):
        utt = f"spk{u % 2}_utt{u:03d}"
        ws = rng.choice(len(WORDS), size=words_per_utt)
        blocks = [protos[w] + 0.3 * rng.normal(size=(frames_per_word + int(rng.integers(0, 4)), dim)) for w in ws]
        m = np.concatenate([np.zeros((4, dim))] + blocks + [np.zeros((4, dim))]).astype(np.float32)
        if u == nan_utt:
            m[5, 3] = np.nan
        f0 = np.where(np.arange(len(m)) % 10 < 7, 120.0 + 10 * u, 0.0).astype(np.float32)
        feats[utt], f0s[utt], text[utt] = m, f0, " ".join(WORDS[w] for w in ws)
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w:
        for k in sorted(feats):
            w(k, feats[k])
    with kaldiio.WriteHelper(f"ark,scp:{d}/f0.ark,{d}/f0.scp") as w:
        for k in sorted(f0s):
            w(k, f0s[k])
    write_kv(d / "utt2num_frames", {k: str(len(v)) for k, v in feats.items()})
    write_kv(d / "text", text)
    write_kv(d / "utt2spk", {k: k.split("_")[0] for k in feats})
    (d / "feats_dim").write_text(f"{dim}\n")
    FeatureConfig(n_mels=dim).to_yaml(d / "conf" / "feats.yaml")
    acc = CMVNAccumulator()
    for k in sorted(feats):
        if np.isfinite(feats[k]).all():
            acc.add(feats[k])
    acc.finish().save(d / "cmvn.npz")
    return d


def make_tokens(d):
    build_token_list([" ".join(WORDS)], "word", d)
    return d


def write_config(path, model=None, **sections):
    cfg = {"model": {**TINY_MODEL, **(model or {})}, **sections}
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_args(tmp_path, conf, train_dir, valid_dir, tag="t"):
    return ["--config", str(conf), "--train", str(train_dir), "--valid", str(valid_dir),
            "--token-dir", str(tmp_path / "tok"), "--tag", tag, "--exp-dir", str(tmp_path / "exp")]


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def history(exp_dir):
    return torch.load(exp_dir / "checkpoint.pt", weights_only=True)["history"]


# ---------------------------------------------------------------- config

def test_unknown_config_key_fails_with_its_name(tmp_path, capsys):
    conf = tmp_path / "train.yaml"
    conf.write_text("model:\n  enc_layers: 2\n  enc_layerz: 3\n")
    with pytest.raises(SystemExit):
        train.main(["--config", str(conf), "--print-config"])
    err = capsys.readouterr().err
    assert "unknown key model.enc_layerz" in err and str(conf) in err
    conf.write_text("optimizer:\n  lr: 1\n")
    with pytest.raises(SystemExit):
        train.main(["--config", str(conf), "--print-config"])
    assert "unknown section 'optimizer'" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # on the command line
        train.main(["--print-config", "--model.enc_layerz", "3"])
    assert "--model.enc_layerz" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # a value of the wrong type
        train.main(["--print-config", "--optim.lr", "fast"])
    assert "optim.lr: expected float, got 'fast'" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # idim comes from the data
        train.main(["--print-config", "--model.idim", "80"])
    assert "--model.idim" in capsys.readouterr().err


def test_print_config_resolves_file_then_command_line(tmp_path, capsys):
    conf = tmp_path / "train.yaml"
    conf.write_text("model:\n  enc_layers: 2\noptim:\n  lr: 1e-3\n  betas: [0.9, 0.99]\ntrain:\n  max_epoch: 7\n")
    assert train.main(["--config", str(conf), "--print-config", "--train.max_epoch", "9",
                       "--specaug.enabled", "true"]) is None
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["enc_layers"] == 2 and cfg["model"]["d_model"] == EchoConfig().d_model
    assert cfg["optim"]["lr"] == 1e-3 and cfg["optim"]["betas"] == [0.9, 0.99]   # "1e-3" read as a float
    assert cfg["train"]["max_epoch"] == 9 and cfg["specaug"]["enabled"] is True
    assert set(cfg) == {"model", "optim", "batch", "train", "specaug", "augment"} and "idim" not in cfg["model"]
    assert cfg["augment"]["enabled"] is False   # augmentation is off unless a config asks for it
    with pytest.raises(config.ConfigError, match="train.best_metric must be one of"):
        config.resolve(None, {"train": {"best_metric": "valid.wer"}}, EchoConfig)


# ---------------------------------------------------------------- schedules, SpecAugment, helpers

def lrs(name, steps, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = build_scheduler(opt, name, **kw)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedules():
    noam = lrs("noam", 40, warmup_steps=10, total_steps=40)
    assert noam[0] == pytest.approx(0.2) and noam[9] == pytest.approx(2.0)   # peak = lr at warmup
    assert noam[39] == pytest.approx(2.0 * math.sqrt(10 / 40))
    cos = lrs("cosine", 30, warmup_steps=10, total_steps=20, min_lr_ratio=0.1)
    assert cos[9] == pytest.approx(2.0) and cos[19] == pytest.approx(0.2) and cos[29] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(cos[9:], cos[10:]))
    assert lrs("constant", 5, warmup_steps=0, total_steps=5) == [2.0] * 5
    with pytest.raises(ValueError, match="optim.scheduler"):
        lrs("linear", 1, warmup_steps=1, total_steps=1)


def test_specaug_masks_f0_with_time_and_never_padding():
    torch.manual_seed(0)
    B, T, D = 4, 100, 20
    feats = torch.randn(B, T, D) + 5.0   # no true zeros
    lens = torch.tensor([100, 80, 50, 30])
    pad = torch.arange(T)[None, :] >= lens[:, None]
    feats[pad] = 0.0
    f0 = torch.full((B, T), 150.0).masked_fill(pad, 0.0)
    conf = SpecAugConfig(enabled=True, num_time_masks=2, time_mask_max=20, time_mask_max_ratio=0.3,
                         num_freq_masks=2, freq_mask_max=5)
    out, f0_out = spec_augment(feats, lens, f0, conf)
    zero = out == 0
    time_masked = zero.all(-1) & ~pad          # frames masked in every dimension
    freq_masked = (zero | pad[:, :, None]).all(1)   # bins masked on every frame of the utterance
    assert time_masked.any() and freq_masked.any()
    # F0 is 0 exactly on the time-masked frames (and on padding, as before)
    assert torch.equal(f0_out == 0, time_masked | pad)
    # nothing else changed
    keep = ~(time_masked[:, :, None] | freq_masked[:, None, :])
    assert torch.equal(out[keep], feats[keep])
    # a time mask is never wider than the ratio of the utterance allows
    for b in range(B):
        assert time_masked[b].sum() <= 2 * int(lens[b] * 0.3)
    assert spec_augment(feats, lens, f0, SpecAugConfig(enabled=False))[0] is feats


def test_vtlp_moves_formants_up_and_keeps_pitch_features_and_padding():
    from echo.train.specaug import warp_frequency
    conf = SpecAugConfig(warp_max=0.2, warp_mel_bins=80, warp_low_hz=20.0, warp_high_hz=8000.0)
    feats = torch.zeros(2, 5, 83)
    feats[:, :, 30] = 1.0                  # one "formant" at mel bin 30 (about 1 kHz)
    feats[:, :, 80:] = 7.0                 # three pitch features after the log-mel bins
    feats[1, 3:] = 0.0                     # row 1: frames 3.. are padding
    out = warp_frequency(feats, torch.tensor([1.0, 1.25]), conf)
    assert torch.allclose(out[0], feats[0], atol=1e-6)                     # alpha 1: unchanged
    peak = out[1, 0, :80].argmax().item()
    # 1.25 x the peak's frequency, in the same Kaldi mel layout: bin 30 -> about bin 35
    hz = lambda b: 700 * (math.exp((1127 * math.log1p(20 / 700) + (b + 1) * (1127 * math.log1p(8000 / 700)
                                     - 1127 * math.log1p(20 / 700)) / 81) / 1127) - 1)
    assert abs(hz(peak) / hz(30) - 1.25) < 0.05, peak
    assert torch.equal(out[1, :3, 80:], feats[1, :3, 80:])                 # pitch features untouched
    assert torch.equal(out[1, 3:], torch.zeros_like(out[1, 3:]))           # padding stays padding
    # through spec_augment: F0 is not warped; off (warp_max 0) draws no random numbers
    f0 = torch.full((2, 5), 120.0)
    torch.manual_seed(1)
    warped, f0_out = spec_augment(feats, torch.tensor([5, 3]), f0, SpecAugConfig(enabled=True, warp_max=0.2,
                                                                                num_time_masks=0, num_freq_masks=0))
    assert torch.equal(f0_out, f0) and not torch.equal(warped, feats)
    torch.manual_seed(1)
    spec_augment(feats, torch.tensor([5, 3]), f0, SpecAugConfig(enabled=True, num_time_masks=0, num_freq_masks=0))
    assert torch.equal(torch.rand(3), (torch.manual_seed(1), torch.rand(3))[1])


def test_greedy_ctc_and_cer():
    lp = torch.full((2, 6, 5), -10.0)
    for b, path in enumerate([[0, 2, 2, 0, 2, 3], [4, 4, 0, 0, 1, 1]]):
        lp[b, torch.arange(6), torch.tensor(path)] = 0.0
    assert [h.tokens for h in greedy_ctc(lp, torch.tensor([6, 3]), 0)] == [[2, 2, 3], [4]]
    # <sos/eos> (4 here) is no CTC label: validation's CER and greedy decoding both leave it out of the argmax
    assert [h.tokens for h in greedy_ctc(lp, torch.tensor([6, 3]), 0, sos_eos=4)] == [[2, 2, 3], []]
    edits, chars = char_errors(["abc", "de", ""], ["abd", "de", "xy"])
    assert (edits, chars) == (1 + 0 + 2, 5)


def test_oom_names_the_batch_and_the_knob():
    batch = {"feats": torch.zeros(3, 700, 80), "feat_lens": torch.tensor([700, 650, 600]),
             "utt_ids": ["u1", "u2", "u3"]}
    with pytest.raises(BatchOOMError) as e:
        with oom_hint(batch, batch_frames=2100):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    msg = str(e.value)
    assert "3 utterances × 700 frames" in msg and "2100 padded frames" in msg and "u1 u2 u3" in msg
    assert "batch.batch_frames (now 2100" in msg
    with pytest.raises(BatchOOMError):
        with oom_hint(batch, 2100):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory")
    with pytest.raises(ValueError, match="unrelated"):   # other errors pass unchanged
        with oom_hint(batch, 2100):
            raise ValueError("unrelated")


# ---------------------------------------------------------------- whole runs

def test_overfit_tiny_set(tmp_path, one_thread):
    data = make_dump(tmp_path / "dump" / "train")
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", model=dict(d_model=64, n_heads=4, ff_dim=128, conv_channels=16,
                                                            dropout=0.0, lsm_weight=0.0),
                        optim=dict(lr=2e-3, warmup_steps=30, scheduler="noam", weight_decay=0.0),
                        batch=dict(batch_frames=60),   # one utterance a batch: 8 updates an epoch
                        train=dict(max_epoch=35, log_interval=100, keep_nbest=2, nbest_average=2))
    model = train.main(run_args(tmp_path, conf, data, data))
    exp = tmp_path / "exp" / "t"
    h = history(exp)
    assert h[0]["valid.loss"] > 5.0
    # near zero: summed over each utterance's 3 words + <eos>, from more than 5 nats
    assert h[-1]["train.loss"] < 0.1 and h[-1]["valid.loss"] < 0.1, [r["valid.loss"] for r in h[-5:]]
    assert h[-1]["valid.acc"] == 1.0 and h[-1]["valid.cer"] == 0.0
    assert h[-1]["step"] == 35 * 8 and not model.training
    # the experiment dir holds everything decoding needs, and the logs
    for name in ("config.yaml", "train.log", "checkpoint.pt", "epoch35.pt", "epoch35.json", "feats.yaml",
                 "cmvn.npz", "token_list/tokens.txt", "valid.loss.ave_2best.pt", "images/curves.png"):
        assert (exp / name).is_file(), name
    assert len(list(exp.glob("epoch*.pt"))) <= 3           # 2 best and the latest
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    log_text = (exp / "train.log").read_text()
    first = next(line for line in log_text.splitlines() if "update 1:" in line)
    for field in ("epoch 1/35", "loss", "ctc", "att", "acc", "lr", "frames/s", "pad", "elapsed", "eta"):
        assert field in first, field
    assert "kept in 8 batches; dropped 0" in log_text
    # the saved config is a valid --config and resolves to the same values
    saved = config.resolve(exp / "config.yaml", {}, EchoConfig)
    assert saved == config.resolve(conf, {}, EchoConfig)


def test_nan_batch_is_skipped_and_counted(tmp_path, one_thread):
    data = make_dump(tmp_path / "dump" / "train", nan_utt=2)
    valid = make_dump(tmp_path / "dump" / "valid", n_utts=2, seed=1)
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", batch=dict(batch_frames=60),
                        train=dict(max_epoch=2, log_interval=100))
    model = train.main(run_args(tmp_path, conf, data, valid))
    exp = tmp_path / "exp" / "t"
    ck = torch.load(exp / "checkpoint.pt", weights_only=True)
    assert ck["counters"]["nonfinite_loss"] == 2            # the NaN utterance, once per epoch
    assert ck["history"][-1]["nonfinite_loss"] == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(ck["history"][-1]["valid.loss"])
    assert ck["step"] == 16                                 # the skipped updates still count as steps
    assert "non-finite loss nan (utterances spk0_utt002)" in (exp / "train.log").read_text()


KILLER = textwrap.dedent("""
    # Runs echo.bin.train and SIGKILLs itself when checkpoint.pt is about to be written for the N-th time:
    # the run dies mid-epoch, losing the updates since the previous checkpoint.
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    import echo.bin.train as T
    import echo.train.loop as L
    n, calls, save = int(sys.argv[1]), [0], L.save_checkpoint
    def save_or_die(path, state):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        save(path, state)
    L.save_checkpoint = save_or_die
    T.main(sys.argv[2:])
""")


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, one_thread):
    data = make_dump(tmp_path / "dump" / "train", n_utts=10)
    valid = make_dump(tmp_path / "dump" / "valid", n_utts=3, seed=1)
    make_tokens(tmp_path / "tok")
    # dropout and SpecAugment on: resume must replay the random numbers too
    conf = write_config(tmp_path / "train.yaml", model=dict(dropout=0.1),
                        optim=dict(lr=3e-3, warmup_steps=5, accum_grad=1),
                        batch=dict(batch_frames=120),   # 2 utterances a batch: 5 updates an epoch
                        train=dict(max_epoch=3, log_interval=2, save_interval_steps=2, keep_nbest=3,
                                   nbest_average=2),
                        specaug=dict(enabled=True, time_mask_max=5, freq_mask_max=4))
    # uninterrupted
    full = train.main(run_args(tmp_path, conf, data, valid, tag="full"))
    # killed at the 5th checkpoint write (update 8, epoch 2): checkpoint.pt is the one of update 6
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([PYTHON, str(script), "5", *run_args(tmp_path, conf, data, valid, tag="resumed")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    exp = tmp_path / "exp" / "resumed"
    ck = torch.load(exp / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["position"], ck["step"], ck["batches_per_epoch"]) == (2, 1, 6, 5)   # mid-epoch
    assert not list(exp.glob(".*.tmp"))
    # the same command again resumes and finishes
    resumed = subprocess.run([PYTHON, "-m", "echo.bin.train", *run_args(tmp_path, conf, data, valid, tag="resumed")],
                             env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr and "epoch 2, batch 1/5, update 6" in resumed.stderr
    h_full, h_res = history(tmp_path / "exp" / "full"), history(exp)
    assert [r["epoch"] for r in h_res] == [1, 2, 3]
    assert abs(h_full[-1]["valid.loss"] - h_res[-1]["valid.loss"]) < 1e-4
    assert h_full[-1]["train.loss"] == pytest.approx(h_res[-1]["train.loss"], abs=1e-4)
    final = torch.load(exp / "checkpoint.pt", weights_only=True)["model"]
    for k, v in full.state_dict().items():
        assert torch.allclose(v, final[k], atol=1e-5), k

    # raising max_epoch and re-running extends training from where it ended
    more = train.main(run_args(tmp_path, conf, data, valid, tag="full") + ["--train.max_epoch", "4"])
    h = history(tmp_path / "exp" / "full")
    assert [r["epoch"] for r in h] == [1, 2, 3, 4] and h[-1]["step"] == 20
    assert not all(torch.equal(a, b) for a, b in zip(more.state_dict().values(), full.state_dict().values()))
    assert (tmp_path / "exp" / "full" / "epoch4.pt").is_file()

"""The ablation: egs/TEMPLATE/ablation.sh end to end on a tiny recipe, and echo.bin.ablation_report on
hand-made experiment directories whose numbers are known."""
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from echo.bin import ablation_report
from echo.ablation import report
from echo.ablation import runs as ablation_runs
from echo.plot.gates import parse_gate_log

ROOT = Path(__file__).resolve().parents[1]


def table(md: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the markdown table under `## heading`, header row first."""
    part = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip("|").split("|") for line in part.splitlines() if line.startswith("|") and "---" not in line]


# ---------------------------------------------------------------- the driver, end to end

@pytest.mark.slow
def test_ablation_driver_end_to_end(tmp_path):
    from test_recipes import make_sandbox, run

    d = make_sandbox(tmp_path, "synth_digits")   # its ablation.sh links to egs/TEMPLATE/ablation.sh
    run(d, "--stop-stage", "2", "--local-data-opts", "--num-train 24 --num-dev 4 --num-test 4")
    configs = "fbank_pitch all_on"
    # one epoch each, both at once (--jobs 2); --nj/--inference-nj pass through to asr.sh
    r = subprocess.run(["./ablation.sh", "--configs", configs, "--seeds", "1", "--train-args", "--train.max_epoch 1",
                        "--jobs", "2", "--nj", "1", "--inference-nj", "1"],
                       cwd=d, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    abl = d / "exp" / "ablation"
    # parallel experiments each log to a file of their own and train on nproc/2 threads
    assert "2 experiments at a time" in r.stdout
    for c in configs.split():
        log = (abl / f"logs/{c}_seed0.log").read_text()
        assert f"Experiment ablation/{c}_seed0 done" in log
        assert f"{max(1, os.cpu_count() // 2)} threads" in (abl / f"{c}_seed0/train.log").read_text()

    # the second feature dump, made by asr.sh stage 1 with --dump-dir: 80 fbank + 3 pitch features
    assert (d / "dump/fbank_pitch/train/feats_dim").read_text().split()[0] == "83"
    assert (d / "dump/train/feats_dim").read_text().split()[0] == "80"
    assert "append_pitch: true" in (d / "dump/fbank_pitch/conf/feats.yaml").read_text()

    # each config trained with the recipe's config, its own switches, the seed, and the same updates
    merged = (abl / "conf/all_on.yaml").read_text()
    assert "d_model: 32" in merged and "theta_mode: frame" in merged and "gate: f0" in merged
    for c in configs.split():
        exp = abl / f"{c}_seed0"
        assert "seed: 0" in (exp / "config.yaml").read_text()
        assert (exp / "decode_test/score_wer/result.json").is_file()
        assert (exp / "ablation.done").is_file()

    md = (abl / "ABLATION.md").read_text()
    rows = table(md, "Results")
    assert rows[0][:4] == ["config", "seeds", "WER", "CER"] and "#params" in rows[0] and "train time" in rows[0]
    assert [row[0] for row in rows[1:]] == configs.split()
    feats = {row[0]: row[rows[0].index("features")] for row in rows[1:]}
    assert feats == {"fbank_pitch": "fbank80+pitch3 (dio)", "all_on": "fbank80"}
    updates = {row[rows[0].index("updates")] for row in rows[1:]}
    assert len(updates) == 1 and int(updates.pop()) > 0        # the same steps for everyone
    changes = {row[0]: row[1] for row in table(md, "Difference from `fbank_pitch`")[1:]}
    assert "model.pitch_bias=True" in changes["all_on"] and "features fbank80" in changes["all_on"]
    assert "./ablation.sh --configs 'fbank_pitch all_on' --seeds 1 --train-args '--train.max_epoch 1'" in md
    for name in ("curves", "metrics", "spectrogram", "rotary", "rotary_all_on", "gates", "attention"):
        png = abl / "images" / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"(images/{name}.png)" in md
    assert "failed" not in md

    # through the recipe: run.sh --ablation true reaches ablation.sh; finished experiments are skipped
    log_mtime = (abl / "all_on_seed0/train.log").stat().st_mtime_ns
    r = run(d, "--stage", "3", "--ablation", "true", "--configs", configs, "--seeds", "1",
            "--train-args", "--train.max_epoch 1", "--report", "false")
    assert r.stdout.count("is done (ablation.done); skipped") == 2, r.stdout[-3000:]
    assert "Feature dump dump/fbank_pitch is up to date" in r.stdout
    assert (abl / "all_on_seed0/train.log").stat().st_mtime_ns == log_mtime

    # ... and other training arguments for a finished experiment are an error, not a silent reuse
    r = run(d, "--stage", "3", "--ablation", "true", "--configs", "all_on", "--seeds", "1",
            "--train-args", "--train.max_epoch 2", check=False)
    assert r.returncode != 0 and "--redo true redoes it" in r.stdout

    # a parallel experiment that fails fails the ablation: counted, its log kept, no table, no done mark
    r = run(d, "--stage", "3", "--ablation", "true", "--configs", configs, "--seeds", "1", "--jobs", "2",
            "--ablation-tag", "broken", "--train-args", "--train.no_such_option 1", check=False)
    assert r.returncode != 0 and "2 of 2 experiments failed" in r.stdout, r.stdout[-3000:]
    assert "no_such_option" in (d / "exp/broken/logs/all_on_seed0.log").read_text()
    assert not (d / "exp/broken/ABLATION.md").exists() and not (d / "exp/broken/all_on_seed0/ablation.done").exists()


def test_unknown_config_is_an_error(tmp_path):
    from test_recipes import make_sandbox

    d = make_sandbox(tmp_path, "synth_digits")   # its ablation.sh links to egs/TEMPLATE/ablation.sh
    for p in ("dump/train/feats.scp", "dump/train/cmvn.npz"):
        (d / p).parent.mkdir(parents=True, exist_ok=True)
        (d / p).touch()
    r = subprocess.run(["./ablation.sh", "--configs", "baseline no_such_config"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "no ablation config 'no_such_config'" in r.stdout + r.stderr
    r = subprocess.run(["./ablation.sh", "--tag", "x"], cwd=d, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--tag cannot be used" in r.stderr


def test_every_ablation_config_is_a_valid_training_config():
    from echo.model.echo import EchoConfig
    from echo.train import config

    names = sorted(p.stem for p in (ROOT / "egs/TEMPLATE/ablation").glob("*.yaml"))
    assert names == sorted(ablation_runs.DEFAULT_ORDER)
    for name in names:
        data = config.load_yaml(ROOT / "egs/TEMPLATE/ablation" / f"{name}.yaml")
        features = data.pop("features", None)
        cfg = config.merge(config.defaults(EchoConfig), data, EchoConfig, name)
        EchoConfig(**cfg["model"])
        switches = {k: cfg["model"][k] for k in ("theta_mode", "radius_mode", "pitch_bias", "gate", "value_rotary")}
        if name in ("baseline", "fbank_pitch"):
            assert switches == {"theta_mode": "none", "radius_mode": "unit", "pitch_bias": False, "gate": "none",
                                "value_rotary": False}
        assert (features is not None) == name.startswith("fbank_pitch")
        if name in ablation_runs.TRACKER_VARIANTS:
            # fbank_pitch on another F0 tracker: only the feature dump differs, in a dump dir of its own
            fbank_pitch = config.load_yaml(ROOT / "egs/TEMPLATE/ablation/fbank_pitch.yaml")
            assert data["model"] == fbank_pitch["model"], name
            assert set(features) - {"dump_dir", "append_pitch"} and features["dump_dir"] != "dump/fbank_pitch"
            continue
        # like with like: a mechanism on the features' track, or on top of the features, reads their pitch
        assert (cfg["model"]["pitch_source"] == "features") == (name.endswith("_featsrc") or
                                                                name.startswith("fbank_pitch_"))
        if name.startswith("fbank_pitch_") or name.endswith("_featsrc"):
            mechanism = name.removeprefix("fbank_pitch_").removesuffix("_featsrc")
            first_round = config.load_yaml(ROOT / "egs/TEMPLATE/ablation" / f"{mechanism}.yaml")["model"]
            expected = {k: v for k, v in first_round.items() if k != "pitch_source"}
            if mechanism == "all_on":
                expected["value_rotary"] = True
            assert {k: cfg["model"][k] for k in expected} == expected, name


PITCH_PARAMETERS = ("log_theta0", "theta_gain", "radius_alpha", "bias_lambda", "gate", "value_beta")


def one_training_step(name: str, base: dict, T: int = 96):
    """Ablation config `name` laid over the recipe config `base` (as ablation.sh lays it), with 83-dim
    features where it asks for the pitch dump: the model, after one forward and backward pass on a
    two-utterance batch (one thread)."""
    from echo.model.echo import EchoConfig, EchoModel
    from echo.train import config

    data = config.load_yaml(ROOT / "egs/TEMPLATE/ablation" / f"{name}.yaml")
    idim = 83 if data.pop("features", None) else 80
    cfg = config.merge(config.merge(config.defaults(EchoConfig), base, EchoConfig, "train.yaml"), data,
                       EchoConfig, name)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = EchoModel(EchoConfig(idim=idim, vocab_size=20, **cfg["model"]))
        lens = torch.tensor([T, T - 26])
        f0 = torch.where(torch.rand(2, T) > 0.3, 100 + 100 * torch.rand(2, T), torch.zeros(2, T))
        loss, stats = model(torch.randn(2, T, idim), lens, f0, torch.tensor([[3, 4, 5], [6, 7, -1]]),
                            torch.tensor([3, 2]))
        assert torch.isfinite(loss) and stats["ctc_infeasible"] == 0, name
        loss.backward()
    finally:
        torch.set_num_threads(n)
    return model


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "egs/TEMPLATE/ablation").glob("*.yaml")))
def test_every_ablation_config_builds_its_model_and_takes_a_training_step(name):
    """Each config laid over synth_tones' training config (the recipe's size): the model is built and one
    AdamW step changes its pitch parameters."""
    from echo.train import config

    model = one_training_step(name, config.load_yaml(ROOT / "egs/synth_tones/conf/train.yaml"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer.step()
    pitch = [k for k in before if any(s in k for s in PITCH_PARAMETERS)]
    assert all(not torch.equal(before[k], p) for k, p in model.named_parameters() if k in pitch), name
    assert bool(pitch) == (name not in ("baseline", "fbank_pitch", "radius_f0", "radius_f0_featsrc",
                                        "fbank_pitch_radius_f0", *ablation_runs.TRACKER_VARIANTS)), name
    assert config.load_yaml(ROOT / "egs/TEMPLATE/ablation/fbank_pitch.yaml")["features"]["append_pitch"] is True


@pytest.mark.parametrize("encoder", ["conformer", "ebranchformer"])
def test_every_ablation_config_trains_on_the_real_corpus_encoders(encoder):
    """The second round's configs are meant for AISHELL-1 on a GPU (egs/aishell/README.md), whose model is a
    Conformer: each config laid over egs/aishell/conf/train.yaml (width and depth cut so that CPU runs it;
    the switches and encoder as configured) builds, and one backward pass reaches every pitch parameter."""
    from echo.train import config

    base = config.load_yaml(ROOT / "egs/aishell/conf/train.yaml")
    base["model"].update(encoder=encoder, d_model=32, ff_dim=64, enc_layers=2, dec_layers=1)
    for path in sorted((ROOT / "egs/TEMPLATE/ablation").glob("*.yaml")):
        model = one_training_step(path.stem, base, T=64)
        assert model.cfg.encoder == encoder
        grads = [p.grad for k, p in model.named_parameters() if any(s in k for s in PITCH_PARAMETERS)]
        assert all(g is not None and torch.count_nonzero(g) > 0 for g in grads), path.stem


# ---------------------------------------------------------------- the report, on known numbers

def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def fake_run(abl: Path, name: str, wer: float, ter: float, acc: float, log_spans: list[tuple[str, str]],
             steps: int = 40, n_params: int = 2_390_000) -> None:
    exp = abl / name
    dec = exp / "decode_test"
    write_json(dec / "score_wer/result.json", {"total": {"err_rate": wer, "snt_err_rate": 99.0, "corr_rate": 1.0}})
    write_json(dec / "score_cer/result.json", {"total": {"err_rate": wer / 2}})
    write_json(dec / "score_tone/result.json", {"total": {"tone_error_rate": ter, "syllable_error_rate": 1.0,
                                                          "tone_errors": 3}, "utterances": {}})
    write_json(dec / "score_punct/result.json", {"snt": 10, "accuracy": acc, "recall": {".": 50.0}})
    write_json(dec / "decode_info.json", {"num_params": n_params, "model": f"exp/ablation/{name}/x.pt"})
    for epoch in (1, 2):
        write_json(exp / f"epoch{epoch}.json", {"step": steps * epoch // 2, "valid.loss": 3.0 / epoch,
                                                "valid.acc": 0.4 * epoch})
    lines = []
    for start, end in log_spans:
        lines += [f"2026-11-24 {start} INFO python -m echo.bin.train --config c.yaml",
                  f"2026-11-24 {start} INFO device cpu, 1 process(es), torch 2.13.0+cpu, 2 threads",
                  f"2026-11-24 {end} INFO done"]
    (exp / "train.log").write_text("\n".join(lines) + "\n")
    (exp / "feats.yaml").write_text("n_mels: 80\nappend_pitch: false\n")
    (exp / "config.yaml").write_text(f"# python -m echo.bin.train\nmodel:\n  theta_mode: {name.split('_')[0]}\n"
                                     "train:\n  seed: 0\n")


def test_report_mean_std_best_and_difference_are_exact(tmp_path):
    abl = tmp_path / "exp" / "ablation"
    # config "none": WER 4 and 6 -> 5.00 ± 1.41 (sample std sqrt(2)); TER 70 and 80; punct acc 50 and 60
    fake_run(abl, "none_seed0", 4.0, 70.0, 50.0, [("10:00:00", "10:01:30"), ("11:00:00", "11:00:30")])
    fake_run(abl, "none_seed1", 6.0, 80.0, 60.0, [("10:00:00", "10:02:00")])
    # config "frame": WER 10 and 10 -> 10.00 ± 0.00; TER 20 and 30; punct acc 90 and 100
    fake_run(abl, "frame_seed0", 10.0, 20.0, 90.0, [("10:00:00", "10:03:00")])
    fake_run(abl, "frame_seed1", 10.0, 30.0, 100.0, [("10:00:00", "10:03:00")])
    fake_run(abl, "frame_seed2", 99.0, 99.0, 0.0, [("10:00:00", "10:03:00")])   # left out by --seeds 2
    (abl / "stray_dir").mkdir()

    out = report.write_report(abl, configs=["none", "frame"], seeds=2, command="./ablation.sh --seeds 2",
                              images=False)
    md = out.read_text()
    rows = table(md, "Results")
    assert rows[0] == ["config", "seeds", "WER", "CER", "punct acc", "TER", "SylER", "#params", "updates",
                       "train time", "features"]
    none, frame = rows[1], rows[2]
    assert none[:7] == ["none", "2", "**5.00 ± 1.41**", "**2.50 ± 0.71**", "55.00 ± 7.07", "75.00 ± 7.07",
                        "1.00 ± 0.00"]
    assert frame[:7] == ["frame", "2", "10.00 ± 0.00", "5.00 ± 0.00", "**95.00 ± 7.07**", "**25.00 ± 7.07**",
                         "1.00 ± 0.00"]   # SylER ties: no bold for a tie between every config
    # none_seed0 trained in two sessions (90 s + 30 s), none_seed1 in one of 120 s: mean 2m00s
    assert none[7:] == ["2.39 M", "40", "2m00s", "fbank80"]
    assert frame[9] == "3m00s"
    assert "- command: `./ablation.sh --seeds 2`" in md
    assert "same number of optimiser updates: 40" in md
    assert "training time of the 4 scored runs together: 10m00s" in md

    diff = table(md, "Difference from `none`")
    # frame − none: WER +5.00 with standard error sqrt(2/2 + 0/2) = 1 -> beyond 2 SE: starred;
    # TER −50.00, SE sqrt(50/2 + 50/2) = 7.07 -> starred; punct acc +40.00, SE 7.07 -> starred
    assert diff[2][:2] == ["frame", "model.theta_mode=frame"]
    assert diff[2][2:] == ["+5.00*", "+2.50*", "+40.00*", "-50.00*", "+0.00"]
    every = table(md, "Every run")
    assert [r[0] for r in every[1:]] == ["none_seed0", "none_seed1", "frame_seed0", "frame_seed1"]
    assert every[1][1:6] == ["4.00", "2.00", "50.00", "70.00", "1.00"]

    # a run with nothing scored is listed as such and kept out of the means
    fake_run(abl, "late_seed0", 1.0, 1.0, 1.0, [("10:00:00", "10:00:10")])
    for p in (abl / "late_seed0/decode_test").glob("score_*"):
        for f in p.iterdir():
            f.unlink()
        p.rmdir()
    md = report.write_report(abl, seeds=2, images=False).read_text()
    assert "**Not scored**" in md and "late_seed0" in md
    late = [r for r in table(md, "Results")[1:] if r[0] == "late"][0]
    assert late[:3] == ["late", "0", "–"]
    md = report.write_report(abl, configs=["late"], images=False).read_text()   # nothing scored at all
    assert "No run is scored yet." in md and "## Difference" not in md and "late_seed0" in md

    # a third seed still training (its epochs so far, nothing scored) changes no number of its config
    shutil.rmtree(abl / "frame_seed2")
    fake_run(abl, "frame_seed2", 99.0, 99.0, 0.0, [("10:00:00", "10:00:07")], steps=7)
    shutil.rmtree(abl / "frame_seed2/decode_test")
    md = report.write_report(abl, configs=["none", "frame"], images=False).read_text()
    frame = table(md, "Results")[2]
    assert frame[:3] == ["frame", "2", "10.00 ± 0.00"] and frame[8:10] == ["40", "3m00s"]
    assert "every run made the same number of optimiser updates: 40" in md
    assert "training time of the 4 scored runs together: 10m00s" in md
    assert "frame_seed2" in md.split("**Not scored**")[1]


def test_score_metrics_reads_any_result_json(tmp_path):
    write_json(tmp_path / "score_wer_words/result.json", {"total": {"err_rate": 12.5, "sub_rate": 3.0}})
    write_json(tmp_path / "score_punct/result.json", {"accuracy": 87.5, "correct": 7})
    write_json(tmp_path / "score_tone/result.json", {"total": {"tone_error_rate": 61.0, "syllable_error_rate": 2.8}})
    assert ablation_runs.score_metrics(tmp_path / "score_wer_words/result.json") == {"WER words": (12.5, False)}
    assert ablation_runs.score_metrics(tmp_path / "score_punct/result.json") == {"punct acc": (87.5, True)}
    assert ablation_runs.score_metrics(tmp_path / "score_tone/result.json") == {"TER": (61.0, False),
                                                                         "SylER": (2.8, False)}


def test_mean_std_is_the_sample_std():
    mean, std = report.mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and math.isclose(std, math.sqrt(5 / 3))
    assert report.mean_std([7.0]) == (7.0, None)
    assert report.fmt_mean_std([7.0]) == "7.00"


def test_gate_log_is_read_per_epoch_and_a_resumed_epoch_counts_once(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "2026-11-24 10:00:00 INFO epoch 1 done: train loss 3.0\n"
        "2026-11-24 10:00:00 INFO gates {'mean': 0.4, 'open_frac': 0.25, 'voicing_corr': nan} "
        "pitch {'theta0': 10000.0}\n"
        "2026-11-24 10:00:09 INFO epoch 2 done: train loss 2.0\n"
        "2026-11-24 10:00:09 INFO gates {'mean': 0.5, 'open_frac': 0.5, 'voicing_corr': 0.1} pitch {'theta0': 9990.0}\n"
        "2026-11-24 10:01:00 INFO python -m echo.bin.train (resumed)\n"
        "2026-11-24 10:01:09 INFO epoch 2 done: train loss 2.0\n"
        "2026-11-24 10:01:09 INFO gates {'mean': 0.6, 'open_frac': 0.75, 'voicing_corr': -0.2} pitch {}\n")
    records = parse_gate_log(log)
    assert [r["epoch"] for r in records] == [1, 2]
    assert math.isnan(records[0]["gates"]["voicing_corr"]) and records[0]["pitch"] == {"theta0": 10000.0}
    assert records[1]["gates"] == {"mean": 0.6, "open_frac": 0.75, "voicing_corr": -0.2}
    assert ablation_runs.train_seconds(log) == 9.0 + 9.0


def test_asr_sh_dump_dir_default_is_unchanged():
    text = (ROOT / "egs/TEMPLATE/asr.sh").read_text()
    assert "\ndump_dir=dump " in text and "\nablation=false " in text
    assert '"dump/' not in text   # every path goes through --dump-dir
    assert os.access(ROOT / "egs/TEMPLATE/ablation.sh", os.X_OK)
    assert (ROOT / "egs/synth_digits/ablation.sh").resolve() == (ROOT / "egs/TEMPLATE/ablation.sh").resolve()


def test_several_test_sets_get_a_column_each(tmp_path):
    abl = tmp_path / "exp" / "ablation"
    for name, wer in (("a_seed0", 1.0), ("b_seed0", 2.0)):
        fake_run(abl, name, wer, 10.0, 50.0, [("10:00:00", "10:00:10")])
        write_json(abl / name / "decode_eval/score_wer/result.json", {"total": {"err_rate": 3 * wer}})
    rows = table(report.write_report(abl, images=False).read_text(), "Results")
    assert rows[0][2:5] == ["WER (eval)", "WER (test)", "CER (test)"]
    assert [r[2] for r in rows[1:]] == ["**3.00**", "6.00"]


def test_a_field_missing_from_an_older_config_counts_as_its_default():
    # a run whose config.yaml predates a field (here specaug.warp_max) had that field's default
    old = {"model": {"theta_mode": "none"}, "specaug": {"enabled": True}}
    new = {"model": {"theta_mode": "none"}, "specaug": {"enabled": True, "warp_max": 0.0}}
    assert report.config_changes(new, old, "fbank80", "fbank80") == "none"
    newer = {"model": {"theta_mode": "frame"}, "specaug": {"enabled": True, "warp_max": 0.1}}
    assert report.config_changes(newer, old, "fbank80", "fbank80") == "model.theta_mode=frame, specaug.warp_max=0.1"


# ---------------------------------------------------------------- learning curves as numbers

def curve_run(config: str, seed: int, cers: list[float], steps_per_epoch: int = 100) -> "ablation_runs.Run":
    history = [{"epoch": e, "step": steps_per_epoch * e, "valid.cer": c, "valid.loss": 10 * c}
               for e, c in enumerate(cers, start=1)]
    return ablation_runs.Run(config=config, seed=seed, path=Path(f"/x/{config}_seed{seed}"), history=history)


def test_updates_to_reach_and_last_epoch_change_on_known_histories():
    run = curve_run("a", 0, [0.5, 0.3, 0.2, 0.15, 0.149])
    assert report.updates_to_reach(run.history, "valid.cer", 0.3) == 200    # at or below: the epoch that hits it
    assert report.updates_to_reach(run.history, "valid.cer", 0.25) == 300
    assert report.updates_to_reach(run.history, "valid.cer", 0.1) is None
    assert report.last_epoch_change(run.history, "valid.cer") == pytest.approx(-0.001 / 0.15)
    assert report.last_epoch_change(run.history[:1], "valid.cer") is None
    # epochs without a step or the metric are skipped, not read as 0
    gappy = [{"epoch": 1, "valid.cer": 0.01}, {"epoch": 2, "step": 50, "valid.cer": None},
             {"epoch": 3, "step": 90, "valid.cer": 0.2}]
    assert report.updates_to_reach(gappy, "valid.cer", 0.3) == 90


def test_learning_curve_section_counts_seeds_that_never_reach_the_target():
    by_config = {"fast": [curve_run("fast", 0, [0.3, 0.1, 0.05, 0.05]), curve_run("fast", 1, [0.2, 0.1, 0.06, 0.06])],
                 "slow": [curve_run("slow", 0, [0.6, 0.4, 0.2, 0.1]), curve_run("slow", 1, [0.7, 0.5, 0.4, 0.3])]}
    lines = report.learning_curve_lines(by_config, {"valid.cer": 0.1})
    table = {line.split("|")[1]: line.split("|")[2:-1] for line in lines if line.startswith("|") and "---" not in line}
    assert table["fast"][0] == "200 ± 0"              # both seeds reach 0.1 at epoch 2
    assert table["slow"][0] == "400 (1/2)"            # one seed at epoch 4, the other never
    assert table["fast"][-2:] == ["+0.0 %", "yes"]    # flat over the last epoch
    assert table["slow"][-1] == "**no**"              # −50 % and −25 %: still improving
    # default target: the worst config's best mean, (0.1 + 0.3) / 2 = 0.2 (a slow seed still misses it)
    lines = report.learning_curve_lines(by_config)
    assert any("valid.cer ≤ 0.2" in line for line in lines)
    assert not any("{" in line for line in lines)   # every placeholder filled in
    table = {line.split("|")[1]: line.split("|")[2:-1] for line in lines if line.startswith("|") and "---" not in line}
    assert table["fast"][0] == "150 ± 71" and table["slow"][0] == "300 (1/2)"
    assert report.learning_curve_lines({"x": [ablation_runs.Run("x", 0, Path("/x"))]}) == []


def test_curve_target_option_rejects_bad_values(tmp_path, capsys):
    for bad in ("valid.cer", "valid.cer=abc", "valid.acc=0.9"):
        with pytest.raises(SystemExit):
            ablation_report.main([str(tmp_path), "--curve-target", bad])

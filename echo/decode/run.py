"""Decoding a dump dir or a raw Kaldi data dir into a decode dir (stage 4): the library behind echo.bin.decode.

    decode(task, opts)     in this process (task.worker: as job JOB of a master, into OUT/split<nj>/JOB)
    run_jobs(task, opts)   split per utterance, task.nj workers through the job runner, outputs merged

A decode dir holds text, token, token_int, score (and <n>best_recog/ with nbest > 1), decode_info.json and
log/. An utterance that cannot be read or is too short to encode gets an empty hypothesis, or with
task.skip_bad none at all; either way it is named in the log and in decode_info.json (bad_utts, skipped).
"""
from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from echo.data.datadir import c_sorted, read_kv_dict, write_kv
from echo.data.dataset import collate
from echo.decode.beam_search import Hypothesis
from echo.decode.data import open_data
from echo.decode.options import search_config
from echo.decode.recognizer import Recognizer
from echo.io import atomic, jobs

log = logging.getLogger("echo.decode")
OUTPUT_FILES = ("text", "token", "token_int", "score")


@dataclass
class DecodeTask:
    """What to decode with which model, and where to (echo.bin.decode's options but the search's)."""
    model: Path
    data: Path
    out: Path
    token_dir: Path | None = None
    feats_conf: Path | None = None
    cmvn: Path | None = None
    ngpu: int = 0
    num_threads: int = 0
    nj: int = 1
    cmd: str | None = None
    skip_bad: bool = False
    worker: bool = False


def remove_outputs(out: Path) -> None:
    """Outputs of an earlier run go first, so a failed run cannot leave them looking complete."""
    for name in OUTPUT_FILES + ("decode_info.json",):
        (out / name).unlink(missing_ok=True)
    for d in out.glob("*best_recog"):
        shutil.rmtree(d, ignore_errors=True)


def rank_dirs(out: Path, nbest: int) -> list[Path]:
    """Where rank n (0 = best) of the n-best goes: OUT/<n+1>best_recog/, or OUT itself when nbest is 1."""
    return [out / f"{n}best_recog" for n in range(1, nbest + 1)] if nbest > 1 else [out]


def write_outputs(out: Path, rows: dict[str, list[dict]], nbest: int) -> None:
    """rows: utt -> n-best list of dict(text, token, token_int, score). OUT/text etc. hold the best;
    with nbest > 1, OUT/<n>best_recog/ holds rank n too. decode_info.json is written last, by the caller."""
    dirs = rank_dirs(out, nbest) + ([out] if nbest > 1 else [])
    ranks = list(range(len(dirs) - 1)) + [0] if nbest > 1 else [0]
    for n, d in zip(ranks, dirs):
        d.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            write_kv(d / name, {u: hyps[n][name] if n < len(hyps) else "" for u, hyps in rows.items()})


def hyp_row(rec: Recognizer, hyp: Hypothesis) -> dict:
    bad = [t for t in hyp.tokens if t in (rec.sos_eos, rec.blank)]
    if bad:  # the search guarantees this never happens; a violation is a bug, not a transcript
        raise RuntimeError(f"a hypothesis contains <blank>/<sos/eos> ids {bad}: {hyp.tokens}")
    return dict(text=rec.text(hyp), token=" ".join(rec.token_strings(hyp)),
                token_int=" ".join(map(str, hyp.tokens)), score=f"{hyp.score:.4f}")


def batches(ds, batch_size: int):
    """Items in batches of similar lengths: longest first for a dump dir (lengths known up front),
    sorted within chunks of 8 batches for a data dir (lengths known once features are computed)."""
    if hasattr(ds, "num_frames"):
        order = sorted(range(len(ds)), key=lambda i: (-ds.num_frames[i], i))
        for k in range(0, len(order), batch_size):
            yield [ds[i] for i in order[k:k + batch_size]]
        return
    chunk = 8 * batch_size
    for k in range(0, len(ds), chunk):
        items = sorted((ds[i] for i in range(k, min(k + chunk, len(ds)))),
                       key=lambda it: -len(it["feats"]) if it["feats"] is not None else 0)
        for j in range(0, len(items), batch_size):
            yield items[j:j + batch_size]


def decode(task: DecodeTask, opts: dict) -> dict:
    """Decode task.data into task.out in this process; returns the decode_info dict."""
    t_load = time.time()
    device = "cuda" if task.ngpu > 0 else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--ngpu > 0 but torch sees no CUDA device")
    rec = Recognizer.from_checkpoint(task.model, task.token_dir, task.feats_conf, task.cmvn,
                                     search_config(opts), opts["mode"], device)
    ds = open_data(task.data, rec.feat_conf, rec.cmvn)
    num_params = sum(p.numel() for p in rec.model.parameters())
    log.info("model %s: %d parameters, %s; %d utterances in %s; options %s", task.model, num_params, device,
             len(ds), task.data, opts)
    load_seconds = time.time() - t_load

    rows: dict[str, list[dict]] = {}
    bad: dict[str, str] = {}      # utt -> why it has no real hypothesis
    too_short: list[str] = []
    frames = 0
    t0 = time.time()
    for items in batches(ds, opts["batch_size"]):
        for it in items:
            if it["feats"] is None:
                bad[it["utt_id"]] = it["error"]
        items = [it for it in items if it["feats"] is not None]
        if not items:
            continue
        frames += sum(len(it["feats"]) for it in items)
        ok = rec.encodable(collate(items)["feat_lens"]).tolist()
        for it, good in zip(items, ok):
            if not good:
                too_short.append(it["utt_id"])
                bad[it["utt_id"]] = (f"utt {it['utt_id']}: {len(it['feats'])} frames is too short for the "
                                     "encoder's subsampling")
        items = [it for it, good in zip(items, ok) if good]
        if not items:
            continue
        batch = collate(items)
        nbests = rec(batch["feats"], batch["feat_lens"], batch["f0"])
        for utt, hyps in zip(batch["utt_ids"], nbests):
            rows[utt] = [hyp_row(rec, h) for h in hyps]
            log.info("%s %s", utt, rows[utt][0]["text"] if rows[utt] else "")
    for utt, reason in sorted(bad.items()):
        log.warning("%s; %s", reason, "skipped (--skip-bad true)" if task.skip_bad else "empty hypothesis")
        if not task.skip_bad:
            rows[utt] = [dict(text="", token="", token_int="", score="-inf")]
    decode_seconds = time.time() - t0
    audio_seconds = frames * rec.feat_conf.frame_shift_ms / 1000.0
    rtf = decode_seconds / audio_seconds if audio_seconds > 0 else float("nan")

    write_outputs(task.out, rows, opts["nbest"])
    info = dict(model=str(task.model), data=str(task.data), num_params=num_params, device=device,
                threads=torch.get_num_threads(), mode=opts["mode"], search=search_config_dict(opts),
                batch_size=opts["batch_size"], num_utts=len(rows), too_short=too_short, bad_utts=bad,
                skipped=sorted(bad) if task.skip_bad else [],
                audio_seconds=round(audio_seconds, 3), decode_seconds=round(decode_seconds, 3),
                load_seconds=round(load_seconds, 3), rtf=rtf)
    atomic.write_json(task.out / "decode_info.json", info)
    log.info("RTF %.4f (decode %.2f s / audio %.2f s, %d utterances, %s, %d threads)",
             rtf, decode_seconds, audio_seconds, len(rows), device, torch.get_num_threads())
    if bad:
        log.warning("%d utterance(s) could not be decoded (%s): %s", len(bad),
                    "left out" if task.skip_bad else "empty hypotheses", " ".join(sorted(bad)[:20]))
    if task.worker:
        jobs.mark_done(task.out.parent, int(task.out.name))
    return info


def search_config_dict(opts: dict) -> dict:
    if opts["mode"] == "greedy_ctc":
        return {}
    if opts["mode"] == "greedy_attention":
        return {k: opts[k] for k in ("maxlenratio", "minlenratio")}
    return dataclasses.asdict(search_config(opts))


def utt_ids_of(data: Path) -> list[str]:
    for name in ("feats.scp", "segments", "wav.scp"):
        if (data / name).is_file():
            return c_sorted(read_kv_dict(data / name))
    raise SystemExit(f"{data}: neither feats.scp, segments nor wav.scp")


def run_jobs(task: DecodeTask, opts: dict) -> dict:
    """Split the data, run --nj workers through --cmd, merge their outputs into task.out."""
    utts = utt_ids_of(task.data)
    nj, part = jobs.split_for_jobs(task.data, task.nj)
    job_out = task.out / f"split{nj}"
    shutil.rmtree(job_out, ignore_errors=True)
    (task.out / "log").mkdir(parents=True, exist_ok=True)
    worker = [sys.executable, "-m", "echo.bin.decode", "--worker", "--model", str(task.model),
              "--data", part, "--out", str(job_out / "JOB"), "--nj", "1", "--skip-bad", str(task.skip_bad),
              "--ngpu", str(task.ngpu), "--num-threads", str(task.num_threads or 1)]
    for flag, value in (("--token-dir", task.token_dir), ("--feats-conf", task.feats_conf), ("--cmvn", task.cmvn)):
        if value is not None:
            worker += [flag, str(value)]
    for name, value in opts.items():
        worker += [f"--{name.replace('_', '-')}", str(value)]
    log.info("running %d jobs of %s", nj, shlex.join(worker))
    t0 = time.time()
    try:
        jobs.run_jobs(task.cmd, nj, task.out / "log" / "decode.JOB.log", worker, "decoding")
    except jobs.JobsFailed as e:
        raise SystemExit(str(e)) from None
    elapsed = time.time() - t0
    missing_jobs = jobs.unfinished(job_out, nj)
    if missing_jobs:
        raise SystemExit(f"{job_out}: jobs {missing_jobs} did not finish (see {task.out}/log/decode.JOB.log)")

    rows: dict[str, list[dict]] = {}
    infos = [atomic.read_json(job_out / str(k) / "decode_info.json") for k in range(1, nj + 1)]
    for k in range(1, nj + 1):
        tables = [{name: read_kv_dict(r / name, allow_empty=True) for name in OUTPUT_FILES}
                  for r in rank_dirs(job_out / str(k), opts["nbest"])]
        for utt in tables[0]["text"]:
            rows[utt] = [{name: t[name][utt] for name in OUTPUT_FILES} for t in tables]
    skipped = sorted(u for i in infos for u in i["skipped"])
    missing = [u for u in utts if u not in rows and u not in skipped]
    if missing:
        raise SystemExit(f"{len(missing)} utterances of {task.data} have no output from the jobs: {missing[:10]}")
    write_outputs(task.out, rows, opts["nbest"])
    audio = sum(i["audio_seconds"] for i in infos)
    decode_seconds = sum(i["decode_seconds"] for i in infos)
    info = dict(infos[0], data=str(task.data), num_utts=len(rows), nj=nj,
                too_short=[u for i in infos for u in i["too_short"]],
                bad_utts={u: r for i in infos for u, r in i["bad_utts"].items()}, skipped=skipped,
                audio_seconds=round(audio, 3), decode_seconds=round(decode_seconds, 3),
                rtf=decode_seconds / audio if audio > 0 else float("nan"),
                elapsed_seconds=round(elapsed, 3), rtf_elapsed=elapsed / audio if audio > 0 else float("nan"))
    info.pop("load_seconds", None)
    atomic.write_json(task.out / "decode_info.json", info)
    shutil.rmtree(job_out, ignore_errors=True)
    log.info("RTF %.4f per job (decode %.2f s in %d jobs / audio %.2f s); %.4f in elapsed time (%.2f s)",
             info["rtf"], decode_seconds, nj, audio, info["rtf_elapsed"], elapsed)
    return info

#!/usr/bin/env python3
"""Unsupervised adaptation to a new speaker, two passes (Kaldi's fMLLR decode, with a neural model).

    local/adapt_speaker.py exp/<tag> dump/fsdd_heldout [--transform diag|full] [--epochs 10] [--lr 0.01]
        [--agree]

Run from the recipe dir. The first pass is the recipe's decode of the speaker (exp/<tag>/decode_<set>/text;
his references are not used). An affine transform of the CMVN-normalised input features, one for the
whole speaker (diag: x·(1 + s) + b; full: adds x·Aᵀ), is then learned with the model frozen, minimising
the model's own training loss (CTC + attention) on the first-pass hypotheses; with --agree only on those
that greedy CTC agrees with. The second pass decodes through it with the first pass's model and search
(decode_<set>/decode_info.json). Prints both passes' WER against dump/<set>/text; with --epochs 0 the
transform is the identity and the second pass is the first.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from echo.data.datadir import read_kv_dict
from echo.data.dataset import EchoDataset, collate
from echo.decode.beam_search import SearchConfig
from echo.decode.recognizer import Recognizer
from echo.score.wer import score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("exp", type=Path, help="exp/<tag>: the trained model and its decode_<set>/")
    p.add_argument("dump", type=Path, help="dump/<set>: the speaker's features and reference text")
    p.add_argument("--transform", choices=("diag", "full"), default="diag")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--agree", action="store_true", help="train only on hypotheses greedy CTC agrees with")
    a = p.parse_args()
    torch.manual_seed(0)
    first_pass = a.exp / f"decode_{a.dump.name}"
    first, ref = read_kv_dict(first_pass / "text"), read_kv_dict(a.dump / "text")
    info = json.loads((first_pass / "decode_info.json").read_text())   # the first pass's model and search
    rec = Recognizer.from_checkpoint(info["model"], search=SearchConfig(**info["search"]))
    items = list(EchoDataset(a.dump, None, cmvn=a.exp / "cmvn.npz"))
    if a.agree:
        greedy = decode_all(Recognizer(rec.model, rec.tokenizer, rec.feat_conf, rec.cmvn, mode="greedy_ctc"), items)
        keep = [it for it in items if greedy[it["utt_id"]] == first[it["utt_id"]]]
    else:
        keep = items
    for it in keep:
        it["tokens"] = torch.tensor(rec.tokenizer.encode(first[it["utt_id"]]), dtype=torch.long)
    transform = learn_transform(rec.model, keep, rec.model.cfg.idim, a.transform, a.epochs, a.lr)
    second = decode_all(rec, items, transform)
    first_wer, second_wer = (score(ref, hyp).total.err_rate for hyp in (first, second))   # stage 5's scorer
    print(f"{a.dump.name}: {len(keep)}/{len(items)} first-pass hypotheses trained on; WER first pass "
          f"{first_wer:.1f} %, second pass {second_wer:.1f} %")


def decode_all(rec: Recognizer, items: list[dict], transform=lambda x: x, batch: int = 50) -> dict[str, str]:
    """utt_id -> best hypothesis of `rec` on the transformed features of `items`."""
    out = {}
    for i in range(0, len(items), batch):
        b = collate(items[i:i + batch])
        with torch.no_grad():
            nbests = rec(transform(b["feats"]), b["feat_lens"], b["f0"])
        out.update({u: rec.text(nbest[0]) for u, nbest in zip(b["utt_ids"], nbests)})
    return out


def learn_transform(model, items: list[dict], D: int, kind: str, epochs: int, lr: float):
    """The speaker's transform of D-dim features, learned on `items` (their tokens: first-pass hypotheses);
    the identity when there are none."""
    scale, bias = torch.zeros(D, requires_grad=True), torch.zeros(D, requires_grad=True)
    full = torch.zeros(D, D, requires_grad=(kind == "full"))
    params = [scale, bias] + ([full] if kind == "full" else [])

    def transform(x):
        return x * (1 + scale) + bias + (x @ full.T if kind == "full" else 0)

    model.eval().requires_grad_(False)
    opt = torch.optim.Adam(params, lr=lr)
    for epoch in range(epochs if items else 0):
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(epoch)).tolist()
        for i in range(0, len(order), 50):
            b = collate([items[j] for j in order[i:i + 50]])
            loss, _ = model(transform(b["feats"]), b["feat_lens"], b["f0"], b["ys"], b["y_lens"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}", file=sys.stderr)
    return transform


if __name__ == "__main__":
    main()

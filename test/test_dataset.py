"""echo.data.dataset over a real dump dir (dump_feats + compute_cmvn on FSDD), and collate."""
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from echo.bin.compute_cmvn import main as compute_cmvn
from echo.bin.dump_feats import main as dump_feats
from echo.data.datadir import DataDirError, read_kv_dict
from echo.data.dataset import EchoDataset, collate
from echo.features.cmvn import CMVN
from echo.features.config import FeatureConfig
from echo.text.tokenizer import Tokenizer

FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"
DIGITS = "zero one two three four five six seven eight nine".split()
UTTS = ["0_jackson_0", "1_george_2", "2_lucas_3", "3_nicolas_4", "9_theo_5"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    rec = FSDD / "recordings"
    if not rec.is_dir():
        pytest.skip(f"FSDD not found at {FSDD}")
    root = tmp_path_factory.mktemp("ds")
    data = root / "data"
    data.mkdir()
    utts = sorted(f"{n.split('_')[1]}-{n}" for n in UTTS)
    (data / "wav.scp").write_text("".join(f"{u} {rec / u.split('-')[1]}.wav\n" for u in utts))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    spk = sorted({u.split("-")[0] for u in utts})
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}\n"
                                          for s in spk))
    # a transcript of 1..3 words so token lengths differ
    (data / "text").write_text("".join(f"{u} {' '.join([DIGITS[int(u.split('-')[1][0])]] * (i % 3 + 1))}\n"
                                       for i, u in enumerate(utts)))
    FeatureConfig(append_pitch=True).to_yaml(root / "fbank.yaml")
    out = root / "dump"
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(root / "fbank.yaml")])
    compute_cmvn(["--dump", str(out)])
    return out


@pytest.fixture
def tokenizer():
    return Tokenizer(["<blank>", "<unk>"] + DIGITS + ["<sos/eos>"], "word")


def raw(dump, name="feats.scp"):
    return dict(kaldiio.load_scp_sequential(str(dump / name)))


def test_cmvn_npz_holds_global_stats(dump):
    feats = np.concatenate(list(raw(dump).values())).astype(np.float64)
    with np.load(dump / "cmvn.npz") as z:
        assert z["mean"].dtype == np.float64 and z["mean"].shape == (83,)
        assert np.allclose(z["mean"], feats.mean(0), atol=1e-9)
        assert np.allclose(z["std"], np.maximum(feats.std(0), 1e-3), rtol=1e-9)
        assert int(z["count"]) == len(feats)


def test_items(dump, tokenizer):
    ds = EchoDataset(dump, tokenizer=tokenizer, cmvn=dump / "cmvn.npz")
    feats, f0 = raw(dump), raw(dump, "f0.scp")
    text = read_kv_dict(dump / "text")
    assert len(ds) == 5 and ds.utt_ids == sorted(feats, key=str.encode)
    cmvn = CMVN.load(dump / "cmvn.npz")
    for i, utt in enumerate(ds.utt_ids):
        item = ds[i]
        assert item["utt_id"] == utt
        assert item["feats"].dtype == torch.float32 and item["feats"].shape == (len(feats[utt]), 83)
        assert torch.allclose(item["feats"], torch.from_numpy((feats[utt] - cmvn.mean) / cmvn.std).float(),
                              atol=1e-5)
        assert torch.equal(item["f0"], torch.tensor(f0[utt]))
        assert item["tokens"].dtype == torch.long
        assert item["tokens"].tolist() == tokenizer.encode(text[utt]) and min(item["tokens"].tolist()) >= 2
        assert ds.num_frames[i] == len(feats[utt]) and ds.num_tokens[i] == len(item["tokens"])


def test_collate_pads_and_keeps_values(dump, tokenizer):
    ds = EchoDataset(dump, tokenizer=tokenizer, cmvn=CMVN.load(dump / "cmvn.npz"))
    items = [ds[i] for i in range(len(ds))]
    batch = collate(items)
    T, L = max(ds.num_frames), max(ds.num_tokens)
    assert batch["utt_ids"] == ds.utt_ids
    assert batch["feats"].shape == (5, T, 83) and batch["f0"].shape == (5, T) and batch["ys"].shape == (5, L)
    assert batch["feat_lens"].tolist() == ds.num_frames and batch["y_lens"].tolist() == ds.num_tokens
    assert batch["feat_lens"].dtype == batch["y_lens"].dtype == batch["ys"].dtype == torch.long
    for b, it in enumerate(items):
        n, m = len(it["feats"]), len(it["tokens"])
        assert torch.equal(batch["feats"][b, :n], it["feats"]) and not batch["feats"][b, n:].any()
        assert torch.equal(batch["f0"][b, :n], it["f0"]) and not batch["f0"][b, n:].any()
        assert torch.equal(batch["ys"][b, :m], it["tokens"]) and (batch["ys"][b, m:] == -1).all()
    # through a DataLoader, in any order
    loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(0))
    seen = [u for b in loader for u in b["utt_ids"]]
    assert sorted(seen) == ds.utt_ids


def test_without_tokenizer_or_cmvn(dump):
    ds = EchoDataset(dump)
    item = ds[0]
    assert item["tokens"].dtype == torch.long and item["tokens"].shape == (0,)
    assert ds.num_tokens == [0] * 5
    assert torch.equal(item["feats"], torch.tensor(raw(dump)[ds.utt_ids[0]]))   # no CMVN
    batch = collate([ds[0], ds[1]])
    assert batch["ys"].shape == (2, 0) and batch["y_lens"].tolist() == [0, 0]


def test_reads_are_lazy(dump, tmp_path):
    """Constructing the dataset reads no ark: a damaged ark only shows when its item is read."""
    copy = tmp_path / "dump"
    copy.mkdir()
    for name in ("f0.scp", "utt2num_frames", "text"):
        (copy / name).write_text((dump / name).read_text())
    ark = tmp_path / "feats.ark"
    kaldiio.save_ark(str(ark), raw(dump), scp=str(copy / "feats.scp"))
    ark.write_bytes(ark.read_bytes()[:200])       # cut inside the first matrix
    ds = EchoDataset(copy)
    assert len(ds) == 5
    with pytest.raises(DataDirError, match=f"utt {ds.utt_ids[0]}: cannot read .*feats.ark"):
        ds[0]


def test_inconsistent_dump_dirs_are_errors(dump, tmp_path, tokenizer):
    with pytest.raises(DataDirError, match="feats.scp: missing"):
        EchoDataset(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("feats.scp", "utt2num_frames"):
        (bad / name).write_text((dump / name).read_text())
    f0_lines = (dump / "f0.scp").read_text().splitlines()
    (bad / "f0.scp").write_text("\n".join(f0_lines[1:]) + "\n")
    first = f0_lines[0].split()[0]
    with pytest.raises(DataDirError, match=f"f0.scp: no entry for utt {first}"):
        EchoDataset(bad)
    (bad / "f0.scp").write_text((dump / "f0.scp").read_text())
    with pytest.raises(DataDirError, match="text: missing, but a tokenizer was given"):
        EchoDataset(bad, tokenizer=tokenizer)
    # utt2num_frames that disagrees with the ark is caught when the item is read
    frames = (dump / "utt2num_frames").read_text().splitlines()
    frames[0] = f"{frames[0].split()[0]} 3"
    (bad / "utt2num_frames").write_text("\n".join(frames) + "\n")
    with pytest.raises(DataDirError, match=f"utt {first}: .* disagree"):
        EchoDataset(bad)[0]

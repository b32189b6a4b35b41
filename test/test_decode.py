"""Decoding: CTC prefix scores against brute force, beam search against exhaustive search, a model
overfit on a few utterances decoded exactly (greedy CTC and beam search), batched == one by one,
beam 1 without CTC == greedy attention, no <sos/eos> in any output, short utterances, the CLI."""
import dataclasses
import itertools
import json
import math
import shutil

import kaldiio
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from echo.bin import decode as decode_cli
from echo.bin import score as score_cli
from echo.data.datadir import read_kv_dict
from echo.decode.beam_search import BeamSearch, SearchConfig, greedy_attention, greedy_ctc, length_limits
from echo.decode.ctc_prefix_score import CTCPrefixScorer
from echo.features.cmvn import CMVN
from echo.features.config import FeatureConfig
from echo.model.echo import EchoConfig, EchoModel
from echo.text.tokenizer import build_token_list


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread is many times faster than two on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------------
# CTC prefix scores and the search itself, against brute force


def collapse(path, blank=0):
    out = []
    for i, c in enumerate(path):
        if c != blank and (i == 0 or c != path[i - 1]):
            out.append(c)
    return out


def test_ctc_prefix_scores_match_brute_force():
    torch.manual_seed(0)
    T, V, blank = 5, 4, 0
    logp = torch.randn(1, T, V).log_softmax(-1)
    # probability of every collapsed output, summing all V^T paths
    p_out = {}
    for path in itertools.product(range(V), repeat=T):
        p = math.exp(sum(float(logp[0, t, c]) for t, c in enumerate(path)))
        key = tuple(collapse(path))
        p_out[key] = p_out.get(key, 0.0) + p

    def prefix_prob(h):
        return sum(p for out, p in p_out.items() if out[:len(h)] == tuple(h))

    scorer = CTCPrefixScorer(logp, torch.tensor([T]), blank)
    utt = torch.zeros(1, dtype=torch.long)
    state, prefix = scorer.initial_state(utt), []
    for step, label in enumerate([2, 2, 1]):  # a repeated label exercises the blank-only rule
        cand = torch.tensor([[1, 2, 3]])
        out = scorer.score(state, utt, torch.tensor([prefix[-1]]) if prefix else None, cand, num_labels=step)
        for k, c in enumerate([1, 2, 3]):
            assert math.exp(float(out.prefix[0, k])) == pytest.approx(prefix_prob(prefix + [c]), rel=1e-4, abs=1e-9)
        assert math.exp(float(out.eos[0])) == pytest.approx(p_out.get(tuple(prefix), 0.0), rel=1e-4, abs=1e-9)
        state = CTCPrefixScorer.select(out, torch.tensor([0]), torch.tensor([[1, 2, 3].index(label)]))
        prefix.append(label)


def test_padding_does_not_change_ctc_prefix_scores():
    torch.manual_seed(1)
    logp = torch.randn(2, 9, 6).log_softmax(-1)
    lens = torch.tensor([9, 5])
    batched = CTCPrefixScorer(logp, lens, 0)
    alone = CTCPrefixScorer(logp[1:, :5], lens[1:], 0)
    cand = torch.tensor([[1, 2, 3, 4]])
    a = batched.score(batched.initial_state(torch.tensor([1])), torch.tensor([1]), None, cand, 0)
    b = alone.score(alone.initial_state(torch.tensor([0])), torch.tensor([0]), None, cand, 0)
    torch.testing.assert_close(a.prefix, b.prefix)
    torch.testing.assert_close(a.eos, b.eos)


class BigramDecoder:
    """A stand-in attention decoder: log p(next | last token, utterance) from fixed random tables. Its
    cache is each row's tokens so far, to check the search reorders whatever the decoder caches."""

    def __init__(self, V, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(V, V, generator=g)

    def step(self, tokens, memory, memory_lens, cache):
        N, t = tokens.shape
        if cache is not None:
            assert torch.equal(cache, tokens[:, :-1]), "cache not reordered with its hypotheses"
        logits = self.table[tokens[:, -1]] + memory[:, 0, :self.table.shape[0]]
        return logits.log_softmax(-1), tokens


def joint_score(y, att_table_row_fn, ctc_logp, lam, penalty, eos):
    """Joint score of a complete output y (labels, then <sos/eos>) computed independently:
    attention by the chain rule, CTC by torch's ctc_loss."""
    att, last = 0.0, eos
    for c in list(y) + [eos]:
        att += float(att_table_row_fn(last)[c])
        last = c
    if lam > 0:
        T = ctc_logp.shape[0]
        nll = F.ctc_loss(ctc_logp[:, None], torch.tensor([y]) if y else torch.zeros(1, 0, dtype=torch.long),
                         torch.tensor([T]), torch.tensor([len(y)]), blank=0, reduction="sum", zero_infinity=False)
        ctc = -float(nll)
    else:
        ctc = 0.0
    return (1 - lam) * att + lam * ctc + penalty * (len(y) + 1)


@pytest.mark.parametrize("lam,penalty", [(0.0, 0.0), (0.4, 0.0), (0.4, 0.5), (1.0, 0.0)])
def test_beam_search_equals_exhaustive_search(lam, penalty):
    V, eos, T, maxlen = 5, 4, 4, 3  # labels 1..3 (<unk> counts as a label here), blank 0
    torch.manual_seed(2)
    dec = BigramDecoder(V)
    memory = torch.randn(2, T, 8)
    enc_lens = torch.tensor([T, T - 1])
    ctc_logp = torch.randn(2, T, V).log_softmax(-1)
    cfg = SearchConfig(beam_size=40, ctc_weight=lam, penalty=penalty, maxlenratio=-maxlen, nbest=5)
    result = BeamSearch(dec, cfg, sos_eos=eos)(memory, enc_lens, ctc_logp)
    for b in range(2):
        def row(last, b=b):
            return (dec.table[last] + memory[b, 0, :V]).log_softmax(-1)
        every = [list(y) for n in range(maxlen + 1) for y in itertools.product([1, 2, 3], repeat=n)]
        scores = {tuple(y): joint_score(y, row, ctc_logp[b, :int(enc_lens[b])], lam, penalty, eos) for y in every}
        best = sorted(scores.items(), key=lambda kv: -kv[1])[:5]
        got = [(tuple(h.tokens), h.score) for h in result[b]]
        assert [y for y, _ in got] == [y for y, _ in best]
        assert [s for _, s in got] == pytest.approx([s for _, s in best], abs=1e-3)


@pytest.mark.parametrize("cfg", [
    SearchConfig(beam_size=6, ctc_weight=0.3, nbest=3, maxlenratio=0.5),
    SearchConfig(beam_size=6, ctc_weight=0.0, nbest=3, penalty=0.3),
    SearchConfig(beam_size=5, ctc_weight=1.0, nbest=3, minlenratio=0.1),
    SearchConfig(beam_size=6, ctc_weight=0.5, nbest=3, normalize_length=True),
])
def test_batched_search_equals_one_by_one_nbest_exact_decoder(cfg):
    """The search's own logic is batch-invariant: with a decoder whose scores are exactly the same
    whatever the batch (table look-ups), utterances of different lengths decoded together get
    exactly the n-best lists they get alone: where each stops, its maxlen, which ended
    hypotheses are kept, ties, pre-beam, padded frames of the CTC scorer."""
    V, eos = 9, 8
    dec = BigramDecoder(V, seed=4)
    g = torch.Generator().manual_seed(4)
    lens = [23, 7, 16, 3, 11]
    memory = [torch.randn(n, V, generator=g) for n in lens]
    ctc = [torch.randn(n, V, generator=g).log_softmax(-1) for n in lens]
    search = BeamSearch(dec, cfg, sos_eos=eos)
    alone = [search(m[None], torch.tensor([len(m)]), c[None])[0] for m, c in zip(memory, ctc)]
    for order in (range(len(lens)), [3, 0, 4, 1, 2]):
        order = list(order)
        pad = torch.nn.utils.rnn.pad_sequence  # padding values that must not matter
        batched = search(pad([memory[i] for i in order], batch_first=True, padding_value=5.0),
                         torch.tensor([lens[i] for i in order]),
                         pad([ctc[i] for i in order], batch_first=True, padding_value=-0.1))
        for i, hyps in zip(order, batched):
            assert len(hyps) == cfg.nbest
            assert [h.tokens for h in hyps] == [h.tokens for h in alone[i]]
            assert [h.score for h in hyps] == pytest.approx([h.score for h in alone[i]], abs=1e-5)


def bench_utterances():
    """The 32 random utterances of test/bench/bench_decode.py (its default model's 80-dim features)."""
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(100, 401, (32,), generator=g)
    return [torch.randn(int(n), 80, generator=g) for n in lens]


def test_batched_search_equals_one_by_one_nbest_bench_model():
    """bench_decode.py's setting (default model, random weights, beam 10, nbest 3, CTC weight 0.3,
    maxlenratio 0.5) on utterances of different lengths: given the same encoder output, decoding in a
    batch gives each utterance exactly its n-best alone (scores within 1e-4: the decoder's batched
    attention over padded memory moves them by ~1e-5).

    The encoder is run once per utterance here on purpose: a padded batch changes its output by ~1e-6
    (other matmul shapes), and a random model's beam is full of near-ties. Utterance 14 of the bench
    (included below) is one: encoded in the bench's batch of 16, two hypotheses at step 19 tie for the
    10th beam slot at −53.6504974; encoded alone one of them scores −53.6504936 (3.8e-6 apart), the
    other one is kept, and the search goes on differently: the same 1-best (−145.3474), but the batch's
    2nd best (−145.3611) never ends alone, so its 3rd (−145.3644) comes 2nd and another (−145.4124)
    3rd. Given the batch's encoder output, the search alone finds the batch's n-best: floating point
    in the encoder, not the search."""
    torch.manual_seed(0)
    model = EchoModel(EchoConfig(vocab_size=32)).eval()
    feats = bench_utterances()
    picked = [14, 2, 13, 1, 8, 3]  # 93, 24, 69, 60, 91, 33 encoder frames
    search = BeamSearch(model.decoder, SearchConfig(beam_size=10, ctc_weight=0.3, maxlenratio=0.5, nbest=3),
                        model.vocab_size - 1)
    with torch.no_grad():
        enc, lp = [], []
        for i in picked:
            e, el = model.encode(feats[i][None], torch.tensor([len(feats[i])]), torch.full((1, len(feats[i])), 120.0))
            enc.append(e[0, :int(el[0])])
            lp.append(model.ctc_log_probs(e)[0, :int(el[0])])
        lens = torch.tensor([len(e) for e in enc])
        alone = [search(e[None], lens[k:k + 1], p[None])[0] for k, (e, p) in enumerate(zip(enc, lp))]
        for order in (list(range(len(picked))), [1, 3, 0, 5, 2, 4]):
            pad = torch.nn.utils.rnn.pad_sequence  # padding values that must not matter
            batched = search(pad([enc[k] for k in order], batch_first=True, padding_value=3.0), lens[order],
                             pad([lp[k] for k in order], batch_first=True, padding_value=-0.5))
            for k, hyps in zip(order, batched):
                assert len(hyps) == 3
                assert [h.tokens for h in hyps] == [h.tokens for h in alone[k]], picked[k]
                assert [h.score for h in hyps] == pytest.approx([h.score for h in alone[k]], abs=1e-4)


def test_maxlen_forces_a_proper_end():
    V, eos = 6, 5
    dec = BigramDecoder(V, seed=3)
    dec.table[:, eos] = -30.0  # the decoder never wants to stop
    memory = torch.zeros(3, 4, 8)
    enc_lens = torch.tensor([4, 2, 1])
    for search in (BeamSearch(dec, SearchConfig(beam_size=3, ctc_weight=0.0), eos),
                   lambda e, lens, _: [[h] for h in greedy_attention(dec, e, lens, eos)]):
        out = search(memory, enc_lens, None)
        for b, hyps in enumerate(out):
            assert hyps, "every utterance ends with a hypothesis"
            # maxlenratio 0: at most T' labels, and exactly that many here, since <sos/eos> is so unlikely
            assert len(hyps[0].tokens) == int(enc_lens[b])
            assert eos not in hyps[0].tokens and 0 not in hyps[0].tokens
    maxlen, minlen = length_limits(torch.tensor([0, 3, 50]), 0.5, 0.1)
    assert maxlen.tolist() == [1, 1, 25] and minlen.tolist() == [0, 0, 5]


# ------------------------------------------------------------------------------------------------
# A tiny model overfit on a few synthetic utterances

WORDS = ["one", "two", "three", "four", "five"]
UTTS = {"s1-a": "one two three", "s1-b": "four five", "s1-c": "three three one",
        "s2-a": "five four three two one", "s2-b": "two", "s2-c": "one five two four"}
D = 16
PATTERNS = torch.randn(len(WORDS), D, generator=torch.Generator().manual_seed(1)) * 2


def synth_feats(text, seed):
    """Each word a fixed random pattern held for 12 frames, 4 frames of silence around words."""
    parts = [torch.zeros(4, D)]
    for w in text.split():
        parts += [PATTERNS[WORDS.index(w)].expand(12, D), torch.zeros(4, D)]
    x = torch.cat(parts)
    return x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("overfit")
    tok = build_token_list(list(UTTS.values()), "word", root / "token_list")
    cfg = EchoConfig(idim=D, vocab_size=tok.vocab_size, d_model=32, n_heads=2, enc_layers=2, dec_layers=1,
                     ff_dim=64, dropout=0.0, conv_channels=8, lsm_weight=0.0, ctc_weight=0.3)
    model = EchoModel(cfg)
    utts = sorted(UTTS)
    feats = [synth_feats(UTTS[u], i) for i, u in enumerate(utts)]
    toks = [torch.tensor(tok.encode(UTTS[u])) for u in utts]
    batch = pad_batch(feats)
    ys = torch.nn.utils.rnn.pad_sequence(toks, batch_first=True, padding_value=-1)
    y_lens = torch.tensor([len(t) for t in toks])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        loss, stats = model(batch["feats"], batch["feat_lens"], batch["f0"], ys, y_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return dict(root=root, model=model, tok=tok, utts=utts, feats=feats, toks=toks, cfg=cfg, stats=stats)


def pad_batch(feats):
    lens = torch.tensor([len(f) for f in feats])
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return dict(feats=x, feat_lens=lens, f0=torch.zeros(x.shape[:2]))


def run_search(model, feats, cfg, mode="beam"):
    b = pad_batch(feats)
    with torch.no_grad():
        enc, enc_lens = model.encode(b["feats"], b["feat_lens"], b["f0"])
        eos = model.vocab_size - 1
        if mode == "greedy_ctc":
            return [[h] for h in greedy_ctc(model.ctc_log_probs(enc), enc_lens, 0, eos)]
        if mode == "greedy_attention":
            return [[h] for h in greedy_attention(model.decoder, enc, enc_lens, eos)]
        return BeamSearch(model.decoder, cfg, eos)(enc, enc_lens, model.ctc_log_probs(enc))


def test_overfit_model_decodes_exactly(trained):
    model, toks = trained["model"], [t.tolist() for t in trained["toks"]]
    assert trained["stats"]["loss"] < 0.2
    greedy = run_search(model, trained["feats"], None, "greedy_ctc")
    assert [h[0].tokens for h in greedy] == toks
    for cfg in (SearchConfig(beam_size=4, ctc_weight=0.3), SearchConfig(beam_size=10, ctc_weight=0.5, nbest=3),
                SearchConfig(beam_size=3, ctc_weight=0.0), SearchConfig(beam_size=3, ctc_weight=1.0)):
        out = run_search(model, trained["feats"], cfg)
        assert [h[0].tokens for h in out] == toks, cfg
        for hyps in out:
            assert len(hyps) == cfg.nbest
            assert all(model.vocab_size - 1 not in h.tokens and 0 not in h.tokens for h in hyps)
            assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_batched_equals_one_by_one(trained):
    model, feats = trained["model"], trained["feats"]
    # a random model too: its hypotheses are long and varied, so every row of the beam matters
    torch.manual_seed(5)
    random_model = EchoModel(dataclasses.replace(trained["cfg"], dropout=0.0)).eval()
    for m in (model, random_model):
        for cfg in (SearchConfig(beam_size=5, ctc_weight=0.3, nbest=3), SearchConfig(beam_size=4, ctc_weight=0.0)):
            batched = run_search(m, feats, cfg)
            for f, hyps in zip(feats, batched):
                alone = run_search(m, [f], cfg)[0]
                assert [h.tokens for h in hyps] == [h.tokens for h in alone]
                assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-4)


def test_beam_one_without_ctc_is_greedy_attention(trained):
    torch.manual_seed(6)
    random_model = EchoModel(trained["cfg"]).eval()
    for m in (trained["model"], random_model):
        beam = run_search(m, trained["feats"], SearchConfig(beam_size=1, ctc_weight=0.0))
        greedy = run_search(m, trained["feats"], None, "greedy_attention")
        assert [h[0].tokens for h in beam] == [h[0].tokens for h in greedy]
        assert [h[0].score for h in beam] == pytest.approx([h[0].score for h in greedy], abs=1e-4)


def test_short_utterance_ends_properly(trained):
    model, eos = trained["model"], trained["model"].vocab_size - 1
    # 7 frames: one encoder frame after ×4 subsampling, so maxlen is 1 label
    short = [synth_feats("two", 9)[4:11], synth_feats("one two three", 10)]
    for cfg in (SearchConfig(beam_size=4, ctc_weight=0.3), SearchConfig(beam_size=4, ctc_weight=0.0)):
        out = run_search(model, short, cfg)
        assert len(out[0]) == 1 and len(out[0][0].tokens) <= 1
        assert eos not in out[0][0].tokens and math.isfinite(out[0][0].score)
        assert out[1][0].tokens == trained["tok"].encode("one two three")


# ------------------------------------------------------------------------------------------------
# The command line: an experiment dir, a dump dir, --nj, a data dir that was never dumped


@pytest.fixture(scope="module")
def exp_and_dump(trained):
    root = trained["root"]
    exp = root / "exp" / "t"
    exp.mkdir(parents=True)
    torch.save({"model": trained["model"].state_dict(), "config": dataclasses.asdict(trained["cfg"])},
               exp / "model.pt")
    shutil.copytree(root / "token_list", exp / "token_list")
    conf = FeatureConfig(n_mels=D)
    conf.to_yaml(exp / "feats.yaml")
    CMVN(np.zeros(D), np.ones(D), 1).save(exp / "cmvn.npz")
    dump = root / "dump" / "test"
    (dump / "conf").mkdir(parents=True)
    conf.to_yaml(dump / "conf" / "feats.yaml")
    with kaldiio.WriteHelper(f"ark,scp:{dump}/feats.ark,{dump}/feats.scp") as wf, \
            kaldiio.WriteHelper(f"ark,scp:{dump}/f0.ark,{dump}/f0.scp") as wp:
        for u, f in zip(trained["utts"], trained["feats"]):
            wf(u, f.numpy())
            wp(u, np.zeros(len(f), dtype=np.float32))
    lines = {"utt2num_frames": {u: str(len(f)) for u, f in zip(trained["utts"], trained["feats"])},
             "text": UTTS, "utt2spk": {u: u.split("-")[0] for u in UTTS}}
    for name, table in lines.items():
        (dump / name).write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)))
    (dump / "spk2utt").write_text("s1 s1-a s1-b s1-c\ns2 s2-a s2-b s2-c\n")
    (dump / "feats_dim").write_text(f"{D}\n")
    return exp, dump


def test_cli_decodes_dump_dir_and_scores(trained, exp_and_dump, tmp_path):
    exp, dump = exp_and_dump
    conf = tmp_path / "decode.yaml"
    conf.write_text("beam_size: 4\nctc_weight: 0.3\nbatch-size: 4\nnbest: 2\n")
    out = exp / "decode_test"
    (out).mkdir()
    (out / "text").write_text("stale output of an earlier run\n")
    assert decode_cli.main(["--model", str(exp / "model.pt"), "--data", str(dump), "--out", str(out),
                            "--config", str(conf), "--penalty", "0.0"]) == 0
    text = read_kv_dict(out / "text", allow_empty=True)
    assert text == UTTS
    assert read_kv_dict(out / "token")["s1-c"] == "three three one"
    assert all(float(v) <= 0 for v in read_kv_dict(out / "score").values())
    assert read_kv_dict(out / "2best_recog" / "text", allow_empty=True).keys() == UTTS.keys()
    assert read_kv_dict(out / "1best_recog" / "text") == UTTS
    info = json.loads((out / "decode_info.json").read_text())
    assert info["search"]["beam_size"] == 4 and info["batch_size"] == 4 and info["num_utts"] == 6
    assert info["rtf"] > 0 and info["audio_seconds"] == pytest.approx(sum(map(len, trained["feats"])) / 100)
    assert "RTF" in (out / "log" / "decode.log").read_text()
    assert "<sos/eos>" not in (out / "text").read_text() + (out / "token").read_text()

    score_cli.main(["--ref", str(dump / "text"), "--hyp", str(out / "text"), "--out", str(out), "--results", str(exp)])
    assert json.loads((out / "score_wer" / "result.json").read_text())["total"]["err"] == 0
    assert "|decode_test|6|18|100.0|0.0|0.0|0.0|0.0|0.0|" in (exp / "RESULTS.md").read_text()
    assert "model.pt" in (exp / "RESULTS.md").read_text()


def test_cli_parallel_jobs_match_one_job(exp_and_dump, tmp_path):
    exp, dump = exp_and_dump
    args = ["--model", str(exp / "model.pt"), "--data", str(dump), "--beam-size", "3", "--mode", "beam"]
    decode_cli.main(args + ["--out", str(tmp_path / "one")])
    decode_cli.main(args + ["--out", str(tmp_path / "two"), "--nj", "2"])
    for name in ("text", "token", "token_int", "score"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "two" / "log" / "decode.2.log").is_file()
    assert "RTF" in (tmp_path / "two" / "log" / "decode.1.log").read_text()
    assert json.loads((tmp_path / "two" / "decode_info.json").read_text())["nj"] == 2
    assert not (tmp_path / "two" / "split2").exists()


def test_cli_decodes_a_data_dir_without_dump(exp_and_dump, tmp_path):
    import soundfile as sf

    exp, _ = exp_and_dump
    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "b.wav", (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 16000)
    (data / "wav.scp").write_text(f"u1 {tmp_path / 'a.wav'}\nu2 {tmp_path / 'b.wav'}\n")
    (data / "utt2spk").write_text("u1 u1\nu2 u2\n")
    out = tmp_path / "dec"
    decode_cli.main(["--model", str(exp / "model.pt"), "--data", str(data), "--out", str(out), "--mode", "greedy_ctc"])
    assert list(read_kv_dict(out / "text", allow_empty=True)) == ["u1", "u2"]
    info = json.loads((out / "decode_info.json").read_text())
    assert info["audio_seconds"] == pytest.approx(1.0 + 0.5, abs=0.05)


def bad_data_dir(tmp_path):
    """A raw data dir of 3 utterances: one readable, one whose file is missing, one of 30 ms."""
    import soundfile as sf

    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "short.wav", np.zeros(480, dtype=np.float32), 16000)
    (data / "wav.scp").write_text(f"s1-a {tmp_path / 'a.wav'}\ns1-b {tmp_path / 'gone.wav'}\n"
                                  f"s1-c {tmp_path / 'short.wav'}\n")
    (data / "utt2spk").write_text("s1-a s1\ns1-b s1\ns1-c s1\n")
    (data / "text").write_text("s1-a one\ns1-b two\ns1-c three\n")
    return data


@pytest.mark.parametrize("nj", [1, 2])
def test_unreadable_and_too_short_utterances_get_empty_hypotheses(exp_and_dump, tmp_path, nj, caplog):
    exp, _ = exp_and_dump
    data, out = bad_data_dir(tmp_path), tmp_path / "dec"
    decode_cli.main(["--model", str(exp / "model.pt"), "--data", str(data), "--out", str(out),
                     "--mode", "greedy_ctc", "--nj", str(nj)])
    text = read_kv_dict(out / "text", allow_empty=True)
    assert list(text) == ["s1-a", "s1-b", "s1-c"] and text["s1-b"] == text["s1-c"] == ""
    info = json.loads((out / "decode_info.json").read_text())
    assert sorted(info["bad_utts"]) == ["s1-b", "s1-c"] and info["skipped"] == []
    assert "gone.wav" in info["bad_utts"]["s1-b"] and "too short" in info["bad_utts"]["s1-c"]
    log = (out / "log" / "decode.log").read_text() + "".join(
        p.read_text() for p in (out / "log").glob("decode.*.log"))
    assert "utt s1-b" in log and "utt s1-c" in log and "empty hypothesis" in log


def test_skip_bad_leaves_them_out_and_results_say_so(exp_and_dump, tmp_path):
    from echo.bin import score as score_cli

    exp, _ = exp_and_dump
    data, out = bad_data_dir(tmp_path), exp / "decode_bad"
    decode_cli.main(["--model", str(exp / "model.pt"), "--data", str(data), "--out", str(out),
                     "--mode", "greedy_ctc", "--skip-bad", "true"])
    assert list(read_kv_dict(out / "text", allow_empty=True)) == ["s1-a"]
    assert json.loads((out / "decode_info.json").read_text())["skipped"] == ["s1-b", "s1-c"]
    score_cli.main(["--ref", str(data / "text"), "--hyp", str(out / "text"), "--out", str(out),
                    "--results", str(exp)])
    assert json.loads((out / "score_wer" / "result.json").read_text())["total"]["snt"] == 1
    assert sorted(read_kv_dict(out / "score_wer" / "skipped")) == ["s1-b", "s1-c"]
    row = next(line for line in (exp / "RESULTS.md").read_text().splitlines() if line.startswith("|decode_bad|"))
    assert row.startswith("|decode_bad|1 (+2 skipped)|")
    shutil.rmtree(out)


def test_cli_rejects_unknown_config_key(exp_and_dump, tmp_path):
    exp, dump = exp_and_dump
    conf = tmp_path / "decode.yaml"
    conf.write_text("beam_sise: 4\n")
    with pytest.raises(SystemExit, match="unknown option 'beam_sise'"):
        decode_cli.main(["--model", str(exp / "model.pt"), "--data", str(dump), "--out", str(tmp_path / "o"),
                         "--config", str(conf)])


def test_search_keeps_the_decoder_cache_valid(trained, monkeypatch):
    """Every step after the first reuses the decoder's cache (else each step recomputes the prefix)."""
    from echo.model.decoder import Decoder

    calls = []
    original = Decoder._cache_matches

    def spy(cache, tokens, memory, memory_lens):
        calls.append((cache is None, original(cache, tokens, memory, memory_lens)))
        return calls[-1][1]

    monkeypatch.setattr(Decoder, "_cache_matches", staticmethod(spy))
    run_search(trained["model"], trained["feats"], SearchConfig(beam_size=4, ctc_weight=0.3))
    assert calls and all(matched for first, matched in calls if not first)
    assert sum(first for first, _ in calls) == 1


@pytest.mark.parametrize("rope_in_cross", [False, True])
def test_grouped_decoder_cache_equals_one_memory_row_per_hypothesis(trained, rope_in_cross):
    """Decoder.step with one memory row per utterance for its G hypotheses (what the search passes),
    hypotheses reselected lazily with select_hyps, gives what the plain cache with memory copied to
    every hypothesis and reordered with reorder_cache gives."""
    torch.manual_seed(7)
    model = EchoModel(dataclasses.replace(trained["cfg"], dropout=0.0, rope_in_cross=rope_in_cross)).eval()
    dec, G = model.decoder, 3
    b = pad_batch(trained["feats"][:2])
    with torch.no_grad():
        enc, enc_lens = model.encode(b["feats"], b["feat_lens"], b["f0"])
        utt = torch.arange(2).repeat_interleave(G)
        tokens = torch.full((2 * G, 1), model.eos)
        grouped = plain = None
        for step in range(4):
            lp_g, grouped = dec.step(tokens, enc, enc_lens, grouped)
            lp_p, plain = dec.step(tokens, enc[utt], enc_lens[utt], plain)
            assert (lp_g - lp_p).abs().max().item() < 1e-5
            # new hypotheses from within each utterance's group, then the next tokens
            rows = (utt * G + torch.randint(0, G, (2 * G,)))
            grouped, plain = dec.select_hyps(grouped, rows), dec.reorder_cache(plain, rows)
            tokens = torch.cat([tokens[rows], torch.randint(2, model.eos, (2 * G, 1))], dim=1)
        # dropping an utterance: its memory row goes with its hypotheses
        keep = torch.arange(G, 2 * G)
        grouped = dec.select_hyps(grouped, keep, torch.tensor([1]))
        plain = dec.reorder_cache(plain, keep)
        tokens = torch.cat([tokens[keep], torch.full((G, 1), 2)], dim=1)
        lp_g, _ = dec.step(tokens, grouped["memory"], grouped["memory_lens"], grouped)
        lp_p, _ = dec.step(tokens, plain["memory"], plain["memory_lens"], plain)
        expected = dec(tokens, enc[1:].expand(G, -1, -1), enc_lens[1:].expand(G)).log_softmax(-1)[:, -1]
        assert (lp_g - expected).abs().max().item() < 1e-5 and (lp_p - expected).abs().max().item() < 1e-5
        with pytest.raises(ValueError, match="equal groups"):
            dec.step(tokens, enc, enc_lens, None)  # 3 hypotheses, 2 memory rows

"""Scoring: hand-computed S/D/I, per-speaker sums, sclite layout, the CLI and RESULTS.md."""
import json
import re

import pytest

from echo.bin import score as score_cli
from echo.score.results import results_markdown, write_results_md
from echo.score.sclite import alignment_lines, result_text
from echo.score.wer import TextNormalizer, score


def counts(result, utt_id):
    u = next(u for u in result.utts if u.utt_id == utt_id).counts
    return u.cor, u.sub, u.dele, u.ins


def test_substitution_deletion_insertion_by_hand():
    # ref: a b c d ; hyp: a x c  -> a=C, b/x=S, c=C, d=D
    r = score({"u": "a b c d"}, {"u": "a x c"})
    assert counts(r, "u") == (2, 1, 1, 0)
    assert r.total.err_rate == pytest.approx(50.0)
    # ref: a b ; hyp: q a b  -> q=I
    r = score({"u": "a b"}, {"u": "q a b"})
    assert counts(r, "u") == (2, 0, 0, 1)
    assert r.total.err_rate == pytest.approx(50.0) and r.total.snt_err == 1


def test_empty_hypothesis_is_all_deletions():
    r = score({"u": "one two three"}, {"u": ""})
    assert counts(r, "u") == (0, 0, 3, 0)
    assert r.total.err_rate == 100.0 and r.total.del_rate == 100.0 and r.total.snt_err_rate == 100.0


def test_empty_reference_is_all_insertions_and_rate_is_undefined():
    r = score({"u": ""}, {"u": "x y"})
    assert counts(r, "u") == (0, 0, 0, 2)
    assert r.total.wrd == 0 and r.total.err == 2
    assert r.total.err_rate is None  # no reference words: a rate would be invented
    assert r.total.snt_err_rate == 100.0
    both = score({"u": ""}, {"u": ""})
    assert counts(both, "u") == (0, 0, 0, 0) and both.total.snt_err == 0


def test_per_speaker_aggregation_and_total():
    refs = {"a1": "one two three", "a2": "four five", "b1": "six seven eight nine"}
    hyps = {"a1": "one too three", "a2": "four five", "b1": "six eight nine"}
    r = score(refs, hyps, {"a1": "spkA", "a2": "spkA", "b1": "spkB"})
    a, b = r.speakers["spkA"], r.speakers["spkB"]
    assert (a.snt, a.wrd, a.cor, a.sub, a.dele, a.ins, a.snt_err) == (2, 5, 4, 1, 0, 0, 1)
    assert a.err_rate == pytest.approx(20.0) and a.snt_err_rate == pytest.approx(50.0)
    assert (b.snt, b.wrd, b.cor, b.dele, b.ins, b.sub) == (1, 4, 3, 1, 0, 0)
    t = r.total
    assert (t.snt, t.wrd, t.err, t.snt_err) == (3, 9, 2, 2)
    assert t.err_rate == pytest.approx(100 * 2 / 9)
    # speakers and their utterances are in C byte order
    assert [u.utt_id for u in r.utts] == ["a1", "a2", "b1"]
    stats = r.speaker_stats()
    assert stats["err_rate"]["mean"] == pytest.approx((20.0 + 25.0) / 2)


def test_cer_counts_spaces_unless_removed():
    r = score({"u": "ab cd"}, {"u": "abcd"}, unit="char")
    assert counts(r, "u") == (4, 0, 1, 0) and r.total.wrd == 5
    r = score({"u": "ab cd"}, {"u": "abcd"}, unit="char", normalizer=TextNormalizer(remove_space=True))
    assert counts(r, "u") == (4, 0, 0, 0) and r.total.wrd == 4


def test_normalisation_is_explicit():
    refs, hyps = {"u": "Hello, World!"}, {"u": "hello world"}
    assert score(refs, hyps).total.err == 2  # nothing is normalised unless asked
    n = TextNormalizer(lowercase=True, remove_punctuation=True)
    assert score(refs, hyps, normalizer=n).total.err == 0
    assert n("  A.  b,c  ") == "a bc"


def test_mismatched_utterances_are_an_error():
    with pytest.raises(ValueError, match="without a hypothesis"):
        score({"u1": "a", "u2": "b"}, {"u1": "a"})


def test_sclite_alignment_lines():
    r = score({"u1": "the cat sat down"}, {"u1": "the bat sat on down"})
    lines = alignment_lines(r.utts[0])
    assert lines[:5] == [
        "id: (u1)",
        "Scores: (#C #S #D #I) 3 1 0 1",
        "REF:  the CAT sat *** down",
        "HYP:  the BAT sat ON  down",
        "Eval:     S       I",
    ]
    r = score({"u2": "a b"}, {"u2": ""})
    assert alignment_lines(r.utts[0])[2:5] == ["REF:  A   B", "HYP:  *** ***", "Eval: D   D"]


def test_result_text_table_layout():
    refs = {"a1": "one two", "b1": "three"}
    hyps = {"a1": "one", "b1": "three"}
    text = result_text(score(refs, hyps, {"a1": "spkA", "b1": "spkB"}), title="hyp")
    assert "SYSTEM SUMMARY PERCENTAGES by SPEAKER" in text
    header = next(line for line in text.splitlines() if "SPKR" in line)
    assert re.search(r"SPKR\s+\|\s+# Snt\s+# Wrd\s+\|\s+Corr\s+Sub\s+Del\s+Ins\s+Err\s+S\.Err", header)
    row = next(line for line in text.splitlines() if line.startswith("| spkA"))
    assert row.split("|")[2].split() == ["1", "2"]
    assert row.split("|")[3].split() == ["50.0", "0.0", "50.0", "0.0", "50.0", "100.0"]
    total = next(line for line in text.splitlines() if line.startswith("| Sum/Avg"))
    assert total.split("|")[3].split() == ["66.7", "0.0", "33.3", "0.0", "33.3", "50.0"]
    # every line of the box has the same width
    box = [line for line in text.splitlines() if line and line[0] in ",|`"]
    assert len({len(line) for line in box}) == 1
    assert "%WER 33.33 [ 1 / 3, 0 ins, 1 del, 0 sub ]" in text


def write_text(path, items):
    path.write_text("".join(f"{k} {v}".rstrip() + "\n" for k, v in items.items()), encoding="utf-8")


@pytest.fixture
def scored_exp(tmp_path):
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    write_text(data / "text", {"s1-u1": "one two three", "s1-u2": "four", "s2-u1": "five six"})
    write_text(data / "utt2spk", {"s1-u1": "s1", "s1-u2": "s1", "s2-u1": "s2"})
    dec = tmp_path / "exp" / "t" / "decode_test"
    dec.mkdir(parents=True)
    write_text(dec / "text", {"s1-u1": "one too three", "s1-u2": "", "s2-u1": "five six"})
    (dec / "decode_info.json").write_text(json.dumps(
        {"model": "exp/t/valid.acc.best.pt", "num_params": 1234567, "search": {"beam_size": 10}, "rtf": 0.01}))
    return tmp_path, data, dec


def test_cli_writes_wer_and_cer_and_results_md(scored_exp, capsys):
    root, data, dec = scored_exp
    assert score_cli.main(["--ref", str(data / "text"), "--hyp", str(dec / "text"), "--out", str(dec),
                           "--results", str(dec.parent)]) == 0
    out = capsys.readouterr().out
    assert "%WER 33.33 [ 2 / 6, 0 ins, 1 del, 1 sub ]" in out
    for metric in ("wer", "cer"):
        for name in ("result.txt", "result.json", "ref.trn", "hyp.trn"):
            assert (dec / f"score_{metric}" / name).is_file()
    res = json.loads((dec / "score_wer" / "result.json").read_text())
    assert res["speakers"]["s1"]["err"] == 2 and res["speakers"]["s2"]["err"] == 0  # utt2spk found beside --ref
    assert res["total"]["snt_err"] == 2
    # one two three / one too three: t-w-o vs t-o-o is 1 substitution; "four" deleted: 4 chars
    cer = json.loads((dec / "score_cer" / "result.json").read_text())["total"]
    assert (cer["sub"], cer["dele"], cer["ins"]) == (1, 4, 0)
    md = (dec.parent / "RESULTS.md").read_text()
    assert "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|" in md
    assert "|decode_test|3|6|66.7|16.7|16.7|0.0|33.3|66.7|" in md
    assert "### CER" in md and "- #params: 1.23 M" in md and "exp/t/valid.acc.best.pt" in md
    assert re.search(r"- Git hash: `([0-9a-f]{40}|unknown)", md) and "- torch version:" in md


def test_cli_missing_hypothesis(scored_exp):
    root, data, dec = scored_exp
    write_text(dec / "text", {"s1-u1": "one two three", "s2-u1": "five six"})
    args = ["--ref", str(data / "text"), "--hyp", str(dec / "text"), "--out", str(dec), "--metrics", "wer"]
    with pytest.raises(SystemExit, match="have no hypothesis"):
        score_cli.main(args)
    score_cli.main(args + ["--missing-as-empty"])
    assert json.loads((dec / "score_wer" / "result.json").read_text())["total"]["dele"] == 1


def test_results_md_without_scores(tmp_path):
    (tmp_path / "decode_dev").mkdir()
    md = results_markdown(tmp_path)
    assert "No scored decode_*/" in md and "### WER" not in md
    assert "## " + tmp_path.name in write_results_md(tmp_path).read_text()


def test_results_md_reports_given_config_and_checkpoint(scored_exp):
    root, data, dec = scored_exp
    (dec / "decode_info.json").unlink()
    score_cli.main(["--ref", str(data / "text"), "--hyp", str(dec / "text"), "--out", str(dec)])
    score_cli.main(["--results", str(dec.parent), "--model", "exp/t/epoch3.pt", "--config", "conf/train.yaml"])
    md = (dec.parent / "RESULTS.md").read_text()
    assert "- config: `conf/train.yaml`" in md and "- checkpoint: `exp/t/epoch3.pt`" in md
    assert "|decode_test|3|6|" in md

"""Token lists: id conventions, round trips, and that <sos/eos>/<blank> never reach text."""
import subprocess
import sys

import pytest

from echo.text.tokenizer import BLANK, SOS_EOS, UNK, Tokenizer, build_token_list

TEXTS = ["one two three", "three three oh", "nine eight seven six", "zero oh one"]


@pytest.mark.parametrize("token_type", ["word", "char", "bpe"])
def test_round_trip_and_conventions(tmp_path, token_type):
    tok = build_token_list(TEXTS, token_type, tmp_path / token_type, nbpe=20)
    assert tok.tokens[0] == BLANK and tok.tokens[1] == UNK and tok.tokens[-1] == SOS_EOS
    assert (tok.blank, tok.unk, tok.sos_eos) == (0, 1, tok.vocab_size - 1)
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids and all(2 <= i < tok.sos_eos for i in ids), (text, ids)
        assert tok.decode(ids) == text
    # Reloading from disk gives the same mapping.
    again = Tokenizer.load(tmp_path / token_type)
    assert again.tokens == tok.tokens and again.token_type == token_type
    assert again.encode(TEXTS[0]) == tok.encode(TEXTS[0])


def test_word_units_and_unknown(tmp_path):
    tok = build_token_list(TEXTS, "word", tmp_path)
    # 9 distinct words + blank, unk, sos/eos; "three" is the most frequent so it gets id 2.
    assert tok.vocab_size == 9 + 3
    assert tok.tokens[2] == "three"
    assert tok.encode("three banana") == [2, tok.unk]


def test_decode_drops_blank_and_sos_eos(tmp_path):
    tok = build_token_list(TEXTS, "word", tmp_path)
    ids = [tok.sos_eos] + tok.encode("one two") + [tok.blank, tok.sos_eos]
    assert tok.decode(ids) == "one two"
    assert "<sos/eos>" not in tok.decode([tok.sos_eos] * 3)


def test_char_units_keep_word_boundaries(tmp_path):
    tok = build_token_list(TEXTS, "char", tmp_path)
    assert "<space>" in tok.tokens
    assert tok.split("oh  one") == ["o", "h", "<space>", "o", "n", "e"]


def test_bpe_is_deterministic(tmp_path):
    a = build_token_list(TEXTS * 5, "bpe", tmp_path / "a", nbpe=18)
    b = build_token_list(TEXTS * 5, "bpe", tmp_path / "b", nbpe=18)
    assert a.tokens == b.tokens
    # (the model files differ only in the training prefix they record)
    assert [a.encode(t) for t in TEXTS] == [b.encode(t) for t in TEXTS]


def test_bad_token_list_is_rejected(tmp_path):
    (tmp_path / "tokens.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="must start with"):
        Tokenizer.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="stage 2"):
        Tokenizer.load(tmp_path / "missing")


def test_cli(tmp_path):
    text = tmp_path / "text"
    text.write_text("".join(f"utt{i} {t}\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "tok"
    r = subprocess.run([sys.executable, "-m", "echo.bin.tokenize", "--text", str(text), "--token-type", "word",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "12 tokens" in r.stdout
    assert Tokenizer.load(out).decode(Tokenizer.load(out).encode("nine oh")) == "nine oh"

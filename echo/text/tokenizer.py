"""Token lists for word, char and sentencepiece (BPE/unigram) units.

A token dir holds `tokens.txt` (one token a line; the line number is the id) and, for
sentencepiece units, `bpe.model`. The ids follow ESPnet's convention, which the model relies on:

    0            <blank>     CTC blank; never emitted as text
    1            <unk>
    2 .. V-2     units
    V-1          <sos/eos>   start and end of sentence; never emitted as text

`char` units write a space as `<space>` so that words can be rebuilt from characters.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable
from echo.io import atomic

BLANK, UNK, SOS_EOS, SPACE = "<blank>", "<unk>", "<sos/eos>", "<space>"
TOKEN_TYPES = ("word", "char", "bpe")


class Tokenizer:
    """Maps a transcript to token ids and back."""

    def __init__(self, tokens: list[str], token_type: str, sp_model: str | Path | bytes | None = None):
        """sp_model: the sentencepiece model of bpe units, as a file or its bytes (a packed model's)."""
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"token_type must be one of {TOKEN_TYPES}, got {token_type!r}")
        if tokens[:2] != [BLANK, UNK] or tokens[-1] != SOS_EOS:
            raise ValueError(f"a token list must start with {BLANK} {UNK} and end with {SOS_EOS}")
        if len(set(tokens)) != len(tokens):
            dup = [t for t, n in Counter(tokens).items() if n > 1]
            raise ValueError(f"duplicate tokens in token list: {dup[:5]}")
        self.tokens = tokens
        self.token_type = token_type
        self.token2id = {t: i for i, t in enumerate(tokens)}
        self.blank, self.unk, self.sos_eos = 0, 1, len(tokens) - 1
        self.sp = None
        if token_type == "bpe":
            import sentencepiece as spm

            self.sp = (spm.SentencePieceProcessor(model_proto=sp_model) if isinstance(sp_model, bytes)
                       else spm.SentencePieceProcessor(model_file=str(sp_model)))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @classmethod
    def load(cls, token_dir: str | Path) -> "Tokenizer":
        token_dir = Path(token_dir)
        tokens_file = token_dir / "tokens.txt"
        if not tokens_file.is_file():
            raise FileNotFoundError(f"{tokens_file} not found (stage 2, tokenisation, writes it)")
        tokens = tokens_file.read_text(encoding="utf-8").split("\n")
        tokens = [t for t in tokens if t]
        token_type = (token_dir / "token_type").read_text().strip() if (token_dir / "token_type").is_file() else None
        if token_type is None:
            token_type = "bpe" if (token_dir / "bpe.model").is_file() else ("char" if SPACE in tokens else "word")
        return cls(tokens, token_type, token_dir / "bpe.model" if token_type == "bpe" else None)

    def split(self, text: str) -> list[str]:
        """The units of `text`, before mapping to ids."""
        if self.token_type == "word":
            return text.split()
        if self.token_type == "char":
            return [SPACE if c == " " else c for c in " ".join(text.split())]
        return self.sp.encode(text, out_type=str)

    def encode(self, text: str) -> list[int]:
        return [self.token2id.get(t, self.unk) for t in self.split(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; blank and <sos/eos> are dropped, so they can never reach a transcript."""
        pieces = [self.tokens[i] for i in ids if i not in (self.blank, self.sos_eos)]
        if self.token_type == "word":
            return " ".join(pieces)
        if self.token_type == "char":
            return "".join(" " if p == SPACE else p for p in pieces).strip()
        return self.sp.decode(pieces)


def build_token_list(texts: list[str], token_type: str, out_dir: str | Path, nbpe: int = 30,
                     bpe_type: str = "unigram", user_symbols: list[str] | None = None) -> Tokenizer:
    """Train the units on `texts` (transcripts only, no utt ids) and write `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if token_type == "word":
        counts = Counter(w for t in texts for w in t.split())
        units = sorted(counts, key=lambda w: (-counts[w], w))
    elif token_type == "char":
        counts = Counter(c for t in texts for c in " ".join(t.split()).replace(" ", "\0"))
        units = sorted((SPACE if c == "\0" else c for c in counts), key=lambda c: c.encode())
    elif token_type == "bpe":
        units = _train_sentencepiece(texts, out_dir, nbpe, bpe_type, user_symbols or [])
    else:
        raise ValueError(f"token_type must be one of {TOKEN_TYPES}, got {token_type!r}")
    units = [u for u in units if u not in (BLANK, UNK, SOS_EOS)]
    tokens = [BLANK, UNK, *units, SOS_EOS]
    atomic.write_text(out_dir / "token_type", token_type + "\n")
    atomic.write_text(out_dir / "tokens.txt", "\n".join(tokens) + "\n")
    return Tokenizer.load(out_dir)


def _train_sentencepiece(texts, out_dir: Path, nbpe: int, bpe_type: str, user_symbols: list[str]) -> list[str]:
    import sentencepiece as spm

    train_file = out_dir / "train.txt"
    train_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    prefix = out_dir / "bpe"
    spm.SentencePieceTrainer.train(
        input=str(train_file), model_prefix=str(prefix), vocab_size=nbpe, model_type=bpe_type,
        character_coverage=1.0, input_sentence_size=10_000_000, shuffle_input_sentence=False,
        user_defined_symbols=user_symbols, bos_id=-1, eos_id=-1, unk_id=0,
        minloglevel=2, num_threads=1,
    )
    train_file.unlink()
    sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

"""Stage 2: build the token list (word, char or sentencepiece units) from a Kaldi `text` file.

    python -m echo.bin.tokenize --text data/train/text --token-type bpe --nbpe 30 --out data/token_list/bpe30
"""
import argparse
import sys

from echo.data.datadir import read_kv
from echo.text.tokenizer import TOKEN_TYPES, build_token_list


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, help="Kaldi text file: '<utt_id> <transcript>' per line")
    p.add_argument("--token-type", choices=TOKEN_TYPES, default="bpe")
    p.add_argument("--nbpe", type=int, default=30, help="sentencepiece vocabulary size (bpe only)")
    p.add_argument("--bpe-type", choices=("unigram", "bpe"), default="unigram")
    p.add_argument("--out", required=True, help="token dir to write (tokens.txt, token_type[, bpe.model])")
    args = p.parse_args(argv)

    texts = [t for _, t in read_kv(args.text)]
    if not texts:
        sys.exit(f"tokenize: {args.text} has no transcripts")
    tok = build_token_list(texts, args.token_type, args.out, nbpe=args.nbpe, bpe_type=args.bpe_type)
    n_unk = sum(i == tok.unk for t in texts for i in tok.encode(t))
    print(f"tokenize: {tok.vocab_size} tokens ({args.token_type}) from {len(texts)} transcripts -> {args.out}; "
          f"<unk> in training text: {n_unk}")


if __name__ == "__main__":
    main()

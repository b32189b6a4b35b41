"""Token lists: word, char and sentencepiece BPE units."""

"""The Echo model: pitch-aware rotary transformer encoder-decoder with a CTC head."""

"""Checkpoints: averaging, n-best selection and pruning, atomic writes, weights-only loading, RNG states."""
import json
import random

import numpy as np
import pytest
import torch

from echo.bin import average
from echo.model.echo import load_model, save_model
from echo.train import checkpoint as ck


def test_average_of_two_known_state_dicts():
    a = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([0.5], dtype=torch.float16),
         "n": torch.tensor(3)}
    b = {"w": torch.tensor([[3.0, 2.0], [1.0, 0.0]]), "b": torch.tensor([1.5], dtype=torch.float16),
         "n": torch.tensor(4)}
    avg = ck.average_state_dicts([a, b])
    assert torch.equal(avg["w"], torch.tensor([[2.0, 2.0], [2.0, 2.0]]))
    assert avg["b"].dtype == torch.float16 and avg["b"].item() == 1.0
    assert avg["n"].dtype == torch.int64 and avg["n"].item() == 3   # floor of 3.5 for counters
    with pytest.raises(ValueError, match="different keys"):
        ck.average_state_dicts([a, {"w": a["w"], "b": a["b"]}])
    with pytest.raises(ValueError, match="w: shapes differ"):
        ck.average_state_dicts([a, {**b, "w": torch.zeros(3)}])


def fake_epochs(exp, values, metric="valid.loss"):
    """epoch<N>.pt whose single weight equals N, and sidecars with the given metric values."""
    for epoch, v in enumerate(values, 1):
        save_model(exp / f"epoch{epoch}.pt", {"w": torch.full((2,), float(epoch))}, {"idim": 4},
                      {"epoch": epoch, metric: v})


def test_nbest_prune_and_average(tmp_path):
    fake_epochs(tmp_path, [5.0, 3.0, float("nan"), 1.0, 4.0, 1.0])
    # lower is better for a loss; a tie goes to the later epoch; NaN is never chosen
    assert ck.nbest_epochs(tmp_path, "valid.loss", 3) == [(6, 1.0), (4, 1.0), (2, 3.0)]
    out = ck.average_nbest(tmp_path, "valid.loss", 3)
    assert out.name == "valid.loss.ave_3best.pt"
    avg = torch.load(out, weights_only=True)
    assert torch.allclose(avg["model"]["w"], torch.full((2,), (6 + 4 + 2) / 3))
    assert avg["config"] == {"idim": 4}
    assert json.loads(out.with_suffix(".json").read_text())["epochs"] == [6, 4, 2]
    # keep the 2 best and the protected latest; the JSON history stays
    deleted = ck.prune_epochs(tmp_path, "valid.loss", 2, protect=(5,))
    assert deleted == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.glob("epoch*.pt")) == ["epoch4.pt", "epoch5.pt", "epoch6.pt"]
    assert len(list(tmp_path.glob("epoch*.json"))) == 6
    # deleted epochs are no longer candidates; more asked than exist: all of them, the name keeps n
    assert [e for e, _ in ck.nbest_epochs(tmp_path, "valid.loss", 10)] == [6, 4, 5]


def test_accuracy_is_maximised_and_cli(tmp_path, capsys):
    fake_epochs(tmp_path, [0.5, 0.9, 0.7], metric="valid.acc")
    assert ck.metric_mode("valid.acc") == "max" and ck.metric_mode("valid.cer") == "min"
    assert average.main(["--exp-dir", str(tmp_path), "--metric", "valid.acc", "--nbest", "2"]) == 0
    assert "epochs 2 3" in capsys.readouterr().out
    avg = torch.load(tmp_path / "valid.acc.ave_2best.pt", weights_only=True)
    assert torch.allclose(avg["model"]["w"], torch.full((2,), 2.5))
    # no sidecar with that metric: a clear error, exit status 1
    assert average.main(["--exp-dir", str(tmp_path), "--metric", "valid.cer"]) == 1
    assert "no epoch*.pt with a finite valid.cer" in capsys.readouterr().err


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "checkpoint.pt"
    ck.save_checkpoint(path, {"step": 1})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        ck.save_checkpoint(path, {"step": 2, "x": Boom()})
    assert ck.load(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]   # no temporary file left


def test_load_is_weights_only_and_names_the_file(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": random.Random(0)}, bad)   # an arbitrary object: not loadable
    with pytest.raises(RuntimeError, match="evil.pt: truncated or not a torch checkpoint"):
        ck.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ck.load(tmp_path / "missing.pt")


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    torch.rand(3), np.random.normal(), random.random()   # numpy gauss cache in use
    ck.save_checkpoint(tmp_path / "c.pt", {"rng": ck.rng_state()})
    expected = (torch.rand(5), np.random.normal(size=5), [random.random() for _ in range(5)])
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    ck.set_rng_state(ck.load(tmp_path / "c.pt")["rng"])
    got = (torch.rand(5), np.random.normal(size=5), [random.random() for _ in range(5)])
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_load_model_from_epoch_file(tmp_path):
    from echo.model.echo import EchoConfig, EchoModel
    import dataclasses

    cfg = EchoConfig(idim=16, vocab_size=8, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, ff_dim=32,
                     conv_channels=4)
    model = EchoModel(cfg)
    save_model(tmp_path / "epoch1.pt", model.state_dict(), dataclasses.asdict(cfg), {"valid.loss": 1.0})
    loaded = load_model(tmp_path / "epoch1.pt")
    assert not loaded.training and loaded.cfg == cfg
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(RuntimeError, match="not an echo model file"):
        load_model(tmp_path / "other.pt")

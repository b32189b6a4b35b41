"""Every recipe's training config (egs/*/conf/train*.yaml) resolves, builds its model, and takes one
training step (SpecAugment as configured, AdamW at the configured learning rate) on a tiny batch."""
from pathlib import Path

import pytest
import torch

from echo.model.echo import EchoConfig, EchoModel
from echo.train import config
from echo.train.specaug import SpecAugConfig, spec_augment

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.relative_to(ROOT) for p in (ROOT / "egs").glob("*/conf/train*.yaml"))


def test_the_new_recipes_have_their_configs():
    names = {str(p) for p in CONFIGS}
    for recipe in ("an4", "mini_librispeech", "librispeech_100", "aishell", "commonvoice"):
        assert {f"egs/{recipe}/conf/train.yaml", f"egs/{recipe}/conf/train_smoke.yaml"} <= names


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)   # 2 shared cores: threads fighting other jobs cost more than they give
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p) for p in CONFIGS])
def test_config_builds_its_model_and_takes_a_training_step(path, one_thread):
    torch.manual_seed(0)
    cfg = config.resolve(ROOT / path, {}, EchoConfig)
    model = EchoModel(EchoConfig(idim=80, vocab_size=50, **cfg["model"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["optim"]["lr"])
    lens = torch.tensor([120, 90])
    feats = torch.randn(2, 120, 80)
    f0 = torch.where(torch.rand(2, 120) > 0.3, 100 + 100 * torch.rand(2, 120), torch.zeros(2, 120))
    feats, f0 = spec_augment(feats, lens, f0, SpecAugConfig(**cfg["specaug"]))
    ys = torch.tensor([[3, 4, 5, 6], [7, 8, -1, -1]])
    before = [p.detach().clone() for p in model.parameters()]
    loss, stats = model(feats, lens, f0, ys, torch.tensor([4, 2]))
    assert torch.isfinite(loss) and stats["ctc_infeasible"] == 0
    loss.backward()
    optimizer.step()
    changed = sum(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert changed > 0.9 * len(before)

"""rnnlab.distributed.loss: the mean over every rank's tokens makes DDP equal one process; the
per-rank mean does not."""

from __future__ import annotations

import os
import textwrap

import pytest
import torch

from rnnlab.distributed import launch
from rnnlab.distributed.data import merge_batches
from rnnlab.distributed.loss import average_loss, global_count, global_mean
from rnnlab.distributed.reference import train_reference
from rnnlab.distributed.train import loss_terms, parse_args

WORKER = """
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from rnnlab.distributed.launcher import report
from rnnlab.distributed.loss import average_loss
from rnnlab.sequences import masked_cross_entropy

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
x, y = torch.randn(4, 5, 3), torch.randint(0, 4, (4, 5))
lengths = torch.tensor([5, 4, 1, 2])  # rank 0 holds 9 tokens, rank 1 holds 3

def grads(model, rows, average):
    model.zero_grad()
    loss_sum = masked_cross_entropy(model(x[rows]), y[rows], lengths[rows], reduction="sum")
    average_loss(loss_sum, int(lengths[rows].sum()), average).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])

torch.manual_seed(1)
single = torch.nn.Linear(3, 4)
# one process: the token mean
(masked_cross_entropy(single(x), y, lengths, reduction="sum") / lengths.sum()).backward()
expected = torch.cat([p.grad.flatten() for p in single.parameters()])
mine = slice(2 * rank, 2 * rank + 2)
ddp = DDP(torch.nn.Linear(3, 4))
ddp.module.load_state_dict(single.state_dict())
errors = {a: float((grads(ddp, mine, a) - expected).abs().max()) for a in ("global", "rank")}
report(errors)
dist.destroy_process_group()
"""


def test_two_gloo_ranks_with_unequal_tokens_match_one_process_only_with_the_global_count(tmp_path):
    (tmp_path / "token_worker.py").write_text(textwrap.dedent(WORKER))
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    results = launch(2, "token_worker", env=env, timeout=120, stream=False)
    for result in results:
        assert result["global"] <= 1e-6  # the DDP gradient is the one-process gradient
        assert result["rank"] > 1e-2  # the mean of per-rank means is not


def test_without_a_process_group_every_average_is_the_plain_mean():
    loss_sum = torch.tensor(6.0)
    assert (
        float(global_mean(loss_sum, 3)) == 2.0
        and float(average_loss(loss_sum, torch.tensor(4), "rank")) == 1.5
    )
    assert global_count(7) == 7 and global_count(torch.tensor(0)) == 0
    with pytest.raises(TypeError, match="loss_sum"):
        global_mean(torch.ones(2), 3)
    with pytest.raises(TypeError, match="count"):
        global_mean(loss_sum, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        global_count(-1)
    with pytest.raises(ValueError, match="nothing to average"):
        global_mean(loss_sum, 0)
    with pytest.raises(ValueError, match="average"):
        average_loss(loss_sum, 3, "batch")


def test_next_word_loss_reads_bos_and_predicts_eos_on_real_tokens_only():
    tokens, lengths, labels = merge_batches(
        [
            (torch.tensor([[5, 6, 7]]), torch.tensor([3]), torch.tensor([1])),
            (torch.tensor([[8]]), torch.tensor([1]), torch.tensor([0])),
        ]
    )
    assert (
        tokens.tolist() == [[5, 6, 7], [8, 0, 0]]
        and lengths.tolist() == [3, 1]
        and labels.tolist() == [1, 0]
    )
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, inputs, lengths, out_len):
            seen.update(inputs=inputs, lengths=lengths, out_len=out_len)
            return torch.zeros(*inputs.shape, 10)  # uniform over 10 words

    loss_sum, count = loss_terms(Spy(), (tokens, lengths, labels), "next-word")
    assert seen["inputs"].tolist() == [[2, 5, 6, 7], [2, 8, 0, 0]]  # <bos> first
    assert seen["lengths"].tolist() == [4, 2] and seen["out_len"] == 4  # one output per real input
    # 4 + 2 targets, <eos> included
    assert count == 6 and float(loss_sum) == pytest.approx(6 * torch.log(torch.tensor(10.0)).item())
    with pytest.raises(SystemExit):
        parse_args(["--task", "next-word", "--dropout", "0.2"])
    with pytest.raises(ValueError, match="world_size"):
        train_reference(["--steps", "1"], world_size=0)


def test_load_model_rebuilds_the_saved_model_and_weight_differences_are_checked(tmp_path):
    from rnnlab import save_checkpoint
    from rnnlab.distributed.reference import load_model, max_weight_difference
    from rnnlab.distributed.train import build_model

    config = {
        "vocab_size": 12,
        "task": "next-word",
        "embed_dim": 4,
        "hidden_size": 5,
        "cell": "gru",
        "dropout": 0.0,
    }
    torch.manual_seed(0)
    model = build_model(**config)
    save_checkpoint(tmp_path / "m.pt", model, config=config)
    loaded = load_model(tmp_path / "m.pt")
    assert max_weight_difference(model, loaded) == 0.0
    with torch.no_grad():
        loaded.frame_rnn.head.bias[3] += 0.25
    assert max_weight_difference(model, loaded) == pytest.approx(0.25, abs=1e-6)
    with pytest.raises(ValueError, match="differ"):
        max_weight_difference(model, build_model(**{**config, "hidden_size": 6}))
    save_checkpoint(tmp_path / "bare.pt", model)
    with pytest.raises(ValueError, match="--save"):
        load_model(tmp_path / "bare.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.pt")

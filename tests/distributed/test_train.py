"""rnnlab.distributed.train: 2 processes with half the batch each end with the weights of 1 process;
loaders and command line."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab import load_checkpoint
from rnnlab.distributed import launch
from rnnlab.distributed.data import make_loader
from rnnlab.distributed.reference import load_model, max_weight_difference, train_reference
from rnnlab.distributed.train import build_model, parse_args, setup, split_runs


def test_two_gloo_processes_end_with_the_weights_of_one(tmp_path):
    # bucketed batches and a loss averaged over real tokens: the ranks hold different token counts
    # each step
    argv = [
        "--steps",
        "6",
        "--global-batch",
        "32",
        "--log-every",
        "3",
        "--seed",
        "3",
        "--task",
        "next-word",
        "--bucket",
    ]
    reference, ref_result = train_reference(argv, world_size=2)
    # two runs in one process group: the default --average global, then each rank's own token mean
    launched = launch(
        2,
        args=[
            *argv,
            "--save",
            str(tmp_path / "ddp.pt"),
            "--then",
            *argv,
            "--average",
            "rank",
            "--save",
            str(tmp_path / "rank.pt"),
        ],
        timeout=240,
        stream=False,
    )
    results = [r["runs"][0] for r in launched]
    assert [r["rank"] for r in results] == [0, 1] and all(r["world_size"] == 2 for r in results)
    # per-rank token means drift
    assert max_weight_difference(reference, load_model(tmp_path / "rank.pt")) > 1e-4
    config = torch.load(tmp_path / "ddp.pt", weights_only=True)["state"]["config"]
    plain = build_model(**config)  # a plain model, no DDP wrapper: the checkpoint loads into it
    state = load_checkpoint(tmp_path / "ddp.pt", plain)
    assert (
        state["world_size"] == 2
        and config["vocab_size"] == reference.frame_rnn.embed.num_embeddings
        and config["task"] == "next-word"
    )
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(reference.state_dict().values(), plain.state_dict().values(), strict=True)
    )
    assert diff <= 1e-5
    assert results[0]["final_loss"] == pytest.approx(ref_result["final_loss"], abs=1e-5)
    # the logged loss is the mean over ranks
    assert results[0]["final_loss"] == results[1]["final_loss"]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(8, 60),
    world=st.sampled_from([1, 2, 3, 4]),
    per_rank=st.integers(1, 4),
    epoch=st.integers(0, 3),
)
def test_rank_shards_are_disjoint_and_together_form_the_single_process_batches(
    n, world, per_rank, epoch
):
    samples = [(torch.tensor([i + 1]), i % 2) for i in range(n)]
    global_batch = world * per_rank
    if global_batch > n:
        return
    single, single_sampler = make_loader(samples, global_batch, 0, 1, seed=5)
    single_sampler.set_epoch(epoch)
    expected = [sorted(b[0].flatten().tolist()) for b in single]
    shards, steps = [], []
    for rank in range(world):
        loader, sampler = make_loader(samples, global_batch, rank, world, seed=5)
        sampler.set_epoch(epoch)
        shards.append(set(sampler))
        steps.append([b[0].flatten().tolist() for b in loader][: len(expected)])
    assert all(a.isdisjoint(b) for i, a in enumerate(shards) for b in shards[i + 1 :])
    # complete: only the remainder of an uneven split is left out
    assert len(set().union(*shards)) == n - n % world
    # every world size takes the same number of steps
    assert all(len(s) == len(expected) for s in steps)
    for k, batch in enumerate(expected):
        assert sorted(x for rank in range(world) for x in steps[rank][k]) == batch


def test_make_loader_rejects_bad_splits():
    samples = [(torch.tensor([1]), 0)] * 10
    with pytest.raises(ValueError, match="split evenly"):
        make_loader(samples, 5, 0, 2, seed=0)
    with pytest.raises(ValueError, match="global_batch"):
        make_loader(samples, 12, 0, 2, seed=0)
    with pytest.raises(ValueError, match="rank"):
        make_loader(samples, 4, 2, 2, seed=0)


def test_command_line_checks_its_numbers_and_splits_runs():
    assert parse_args(["--global-batch", "8"]).global_batch == 8
    with pytest.raises(SystemExit):
        parse_args(["--steps", "0"])
    assert split_runs(["--steps", "2", "--then", "--bucket"]) == [
        ["--steps", "2"],
        ["--bucket"],
    ] and split_runs([]) == [[]]
    with pytest.raises(SystemExit, match="empty run"):
        split_runs(["--steps", "2", "--then"])


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without a GPU"
)
def test_cuda_on_a_machine_without_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        setup("cuda", timeout=5)


def test_bucketed_rank_loaders_are_disjoint_and_take_the_same_number_of_steps():
    samples = [(torch.arange(1, 2 + i % 9), i % 2) for i in range(40)]
    loaders = [make_loader(samples, 8, rank, 2, seed=1, bucket=True) for rank in range(2)]
    for _, sampler in loaders:
        sampler.set_epoch(3)
    seen = [[sorted(b) for b in sampler] for _, sampler in loaders]
    assert len(seen[0]) == len(seen[1]) > 0 and all(len(b) == 4 for rank in seen for b in rank)
    flat = [i for rank in seen for b in rank for i in b]
    assert len(flat) == len(set(flat))
    tokens, lengths, labels = next(iter(loaders[0][0]))
    # neighbouring lengths
    assert tokens.shape[0] == 4 and int(lengths.max()) - int(lengths.min()) <= 2

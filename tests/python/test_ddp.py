"""iccrt.parallel.DistributedDataParallel on real multi-process groups (2-4 ranks as subprocesses running
ddp_worker.py): equivalence with one process on the full batch (SGD, AdamW, no_sync accumulation, gradients as
bucket views), unused parameters, compression hooks, overlap of all-reduces with backward, a rank failing
mid-step, and API errors. Each rank computes its own single-process reference; see ddp_worker.py.
"""

import json
import os

import pytest

from multirank import assert_ok, describe, launch

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_worker.py")


@pytest.mark.parametrize("n", [2, 3, 4])
def test_matches_one_process_on_the_full_batch(n):
    """K steps with SGD (momentum) and AdamW, with and without no_sync accumulation, with and without
    gradient_as_bucket_view: every rank's parameters equal one process's on the full batch (fp32 tolerance)."""
    assert_ok(launch(WORKER, n, "equiv"))


def test_find_unused_parameters_and_static_graph():
    assert_ok(launch(WORKER, 3, "unused"))


def test_compression_hooks():
    assert_ok(launch(WORKER, 2, "hooks"))


def test_all_reduces_start_before_backward_ends():
    results = launch(WORKER, 2, "overlap")
    stats = [json.loads(line[len("STATS "):]) for _, out in results for line in out.splitlines()
             if line.startswith("STATS ")]
    summary = "; ".join(
        f"rank {r}: first gradient {s['first_grad_after_forward_s'] * 1e3:.3f} ms after forward, "
        f"first bucket launched at {s['buckets'][0]['launch_s'] * 1e3:.3f} ms, backward ended at "
        f"{s['backward_end_s'] * 1e3:.3f} ms, {s['launched_before_backward_end']}/{s['num_buckets']} buckets "
        f"launched before it, hidden fraction {s['hidden_fraction']:.2f}" for r, s in enumerate(stats))
    assert len(stats) == 2, describe(results)
    for s in stats:
        assert s["buckets"][0]["launch_s"] < s["backward_end_s"], summary
        assert s["launched_before_backward_end"] >= 1, summary
    assert_ok(results)
    print(summary)


def test_rank_raising_mid_step_fails_the_others_without_hanging():
    results = launch(WORKER, 3, "raise", env={"ICCRT_TIMEOUT": "10"}, timeout=60)
    rc1, out1 = results[1]
    assert rc1 != 0 and "injected failure on rank 1" in out1, describe(results)
    assert_ok(results, ranks=[0, 2])
    for r in (0, 2):
        assert "DistError" in results[r][1], describe(results)


def test_api_errors():
    """Bad bucket_cap_mb, device_ids on CPU, unsupported and repeated hooks, missing gradients named, the
    "module." state_dict prefix, mismatched models across ranks."""
    assert_ok(launch(WORKER, 2, "errors"))

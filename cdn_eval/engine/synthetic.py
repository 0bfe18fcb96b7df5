"""Reproducible synthetic traces (tests and benchmarks): Zipf popularity, log-normal sizes, one-hit wonders."""

import numpy as np

from .trace import from_ids


def zipf_ids(n_req, n_obj, alpha, rng):
    """Object ids with Zipf(alpha) popularity over n_obj objects, by inverse-CDF sampling."""
    weights = 1.0 / np.arange(1, n_obj + 1, dtype=np.float64) ** alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ids = np.searchsorted(cdf, rng.random(n_req), side="right")
    # popularity rank is not id order in a real log: shuffle which id gets which rank
    return rng.permutation(n_obj)[np.minimum(ids, n_obj - 1)]


def zipf_trace(n_req, n_obj, alpha=0.9, seed=0, median=1000, sigma=1.0, one_hit_share=0.0):
    """n_req requests; a share `one_hit_share` of them go to objects requested exactly once."""
    rng = np.random.default_rng(seed)
    n_once = int(n_req * one_hit_share)
    obj = zipf_ids(n_req - n_once, n_obj, alpha, rng)
    if n_once:
        once = np.arange(n_obj, n_obj + n_once)
        obj = np.concatenate([obj, once])
        obj = obj[rng.permutation(obj.size)]
    sizes = np.maximum(1, rng.lognormal(np.log(median), sigma, n_obj + n_once)).astype(np.int64)
    return from_ids(obj.astype(np.int64), sizes)

"""Fast Poisson draws for the aggregated bootstrap: exact inversion through per-mean lookup tables."""

from __future__ import annotations

import numpy as np
from scipy.special import pdtr

# numpy's Poisson sampler costs ~50 ns a draw; the BT bootstrap needs (rounds x outcome cells) draws, e.g.
# 1,000 x 60,000. Cell means are small integers shared by many cells, so we invert the CDF instead: the top
# bits of a uniform pick a bucket of a 2^12-entry table; a bucket that lies inside one value's CDF interval
# gives the draw directly, and the few buckets that straddle a step (~10*sqrt(mean) of 4,096) are resolved
# by an exact search of the CDF. Uniforms have 32 bits, so each probability is exact to about 2^-32.
_BITS = 12
_AMBIGUOUS = np.float32(-1.0)
_MAX_TABLED_MEAN = 4096  # larger means fall back to numpy
_MAX_TABLES = 1024  # 16 KiB each: at most 16 MiB of tables


class PoissonSampler:
    """Draw independent Poisson(mean[k]) counts for a fixed vector of integer means, many rounds at once."""

    def __init__(self, means: np.ndarray) -> None:
        means = np.asarray(means, dtype=np.int64)
        self.n = len(means)
        values, inverse, freq = np.unique(means, return_inverse=True, return_counts=True)
        # Table the most frequent means (small ones in practice); the rest go to numpy's sampler.
        # Mean 0 gets a table too (all zeros), so every cell reads one table and output keeps cell order.
        tabled = values <= _MAX_TABLED_MEAN
        if tabled.sum() > _MAX_TABLES:
            keep = np.argsort(-np.where(tabled, freq, -1), kind="stable")[:_MAX_TABLES]
            tabled = np.zeros_like(tabled)
            tabled[keep] = True
        lam_of_table = np.concatenate([[0], values[tabled]])  # table 0: the all-zero fallback slot
        table_of_value = np.zeros(len(values), dtype=np.int64)
        table_of_value[tabled] = np.arange(1, len(lam_of_table))
        self.table_id = table_of_value[inverse]
        self.offsets = (self.table_id << _BITS).astype(np.intp)
        self.other_cells = np.flatnonzero(self.table_id == 0)
        self.other_cells = self.other_cells[means[self.other_cells] > 0]
        self.other_means = means[self.other_cells].astype(np.float64)
        size = 1 << _BITS
        tables = np.empty((len(lam_of_table), size), dtype=np.float32)
        keys: list[np.ndarray] = []
        starts = np.zeros(len(lam_of_table), dtype=np.int64)
        edges = np.arange(size + 1, dtype=np.float64) / size
        pos = 0
        for i, lam in enumerate(lam_of_table):
            top = int(lam + 12 * np.sqrt(lam) + 40)  # beyond this the tail mass is below 1e-17
            cdf = pdtr(np.arange(top + 1), lam)  # Poisson CDF (scipy.stats would cost seconds to import)
            cdf[-1] = 1.0
            # value at a uniform u = smallest x with cdf[x] > u
            lo = np.searchsorted(cdf, edges[:-1], side="right")
            hi = np.searchsorted(cdf, np.nextafter(edges[1:], 0.0), side="right")
            tables[i] = np.where(lo == hi, lo, _AMBIGUOUS)
            # i + cdf is globally increasing over the tables, so one searchsorted resolves any bucket.
            keys.append(i + cdf)
            starts[i] = pos
            pos += len(cdf)
        self.tables = tables.ravel()
        self.keys = np.concatenate(keys)
        self.starts = starts

    def draw(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """An (n, rounds) float32 array of independent Poisson(mean) counts (cell-major: each cell's rounds
        are contiguous, so consecutive lookups hit the same small table)."""
        k = self.n
        # raw 64-bit generator output split into two 32-bit uniforms: the cheapest bits numpy offers
        u = rng.bit_generator.random_raw((rounds * k + 1) // 2).view(np.uint32)[: rounds * k]
        u = u.reshape(k, rounds)
        # np.take wants intp indices: build them as such (a uint32 index array costs a conversion pass)
        idx = np.right_shift(u, np.uint32(32 - _BITS)).astype(np.intp)
        idx += self.offsets[:, None]
        x = np.take(self.tables, idx)
        amb = np.flatnonzero(x == _AMBIGUOUS)
        if len(amb):
            tid = self.table_id[amb // rounds]
            uf = (u.ravel()[amb].astype(np.float64) + 0.5) / 4294967296.0  # centre of the 2^-32 interval
            pos = np.searchsorted(self.keys, tid + uf, side="right")
            x.ravel()[amb] = pos - self.starts[tid]
        if len(self.other_cells):
            x[self.other_cells] = rng.poisson(self.other_means[:, None], size=(len(self.other_cells), rounds))
        return x

"""Plain result dataclasses; `Evaluation.to_dict()` is the JSON every surface returns."""

from dataclasses import asdict, dataclass, field

import orjson


@dataclass
class CurvePoint:
    cache_bytes: int
    hit_ratio: float
    byte_hit_ratio: float


@dataclass
class PolicyResult:
    hit_ratio: float
    byte_hit_ratio: float


@dataclass
class SizeResult:
    cache_bytes: int
    policies: dict  # name -> PolicyResult


@dataclass
class Recommendation:
    cache_bytes: int
    policy: str
    hit_ratio: float
    byte_hit_ratio: float
    reason: str
    bytes_saved_per_day: float = 0.0
    margin_over_lru: float = 0.0
    knee_bytes: int | None = None
    knee: dict | None = None  # {cache_bytes, hit_ratio, byte_hit_ratio, bytes_saved_per_day, note}
    robustness: dict = field(default_factory=dict)
    size_basis: str = ""


@dataclass
class Tier:
    tier: str
    objects: int
    bytes: int
    hit_share: float
    paths: list


@dataclass
class EvictionPriority:
    path: str
    score: float
    why: str


@dataclass
class Savings:
    bytes_per_day: float
    usd_per_month: float
    price_per_gb: float
    usd_per_day: float = 0.0
    bytes_per_month: float = 0.0
    trace_days: float = 0.0
    price_source: str = ""  # the option, the namespace's origin price, or the default


@dataclass
class Evaluation:
    requests: int
    objects: int
    working_set_bytes: int
    one_hit_objects: int
    curve: list
    at_sizes: list
    recommended: Recommendation
    tiers: list
    eviction_priorities: list
    savings: Savings
    sampling: dict | None = None
    skipped_records: int = 0
    notes: list = field(default_factory=list)
    tier_thresholds: dict = field(default_factory=dict)
    policy_notes: dict = field(default_factory=dict)  # policy -> what it is; Belady's says it is a bound
    bounds: list = field(default_factory=list)  # policies that are bounds (need the future), never recommended

    def to_dict(self):
        # through orjson so numpy scalars become plain JSON numbers
        return orjson.loads(orjson.dumps(asdict(self), option=orjson.OPT_SERIALIZE_NUMPY))

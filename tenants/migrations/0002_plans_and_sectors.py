"""Seed plans and sector templates so `migrate` alone makes a database ready for signups.

The data is frozen here (migrations must not import code that later changes);
staff edit plans and sectors in admin afterwards. Re-running keeps edits: rows
that already exist are left alone.
"""

from django.db import migrations

MiB = 1024 * 1024
GiB = 1024 * MiB
DAY = 86400

PLANS = [
    {
        "slug": "starter",
        "name": "Starter",
        "max_namespaces": 5,
        "max_api_keys": 3,
        "requests_per_second": 200,
        "max_value_bytes": 1 * MiB,
        "storage_quota_bytes": 50 * GiB,
        "max_upload_bytes": 100 * MiB,
        "monthly_price_usd": "0.00",
    },
    {
        "slug": "professional",
        "name": "Professional",
        "max_namespaces": 20,
        "max_api_keys": 10,
        "requests_per_second": 2000,
        "max_value_bytes": 5 * MiB,
        "storage_quota_bytes": 2048 * GiB,
        "max_upload_bytes": 1024 * MiB,
        "monthly_price_usd": "499.00",
    },
    {
        "slug": "enterprise",
        "name": "Enterprise",
        "max_namespaces": None,
        "max_api_keys": None,
        "requests_per_second": None,
        "max_value_bytes": 25 * MiB,
        "storage_quota_bytes": None,
        "max_upload_bytes": 10 * GiB,
        "monthly_price_usd": "0.00",
    },
]

SECTORS = [
    {
        "slug": "filestorage",
        "name": "File storage",
        "description": "Desktop apps delivering firmware, drivers and video from S3-compatible storage.",
        "namespaces": [
            {"name": "storage", "nodes": ["seagate_lyve_connector", "file_dedup_cache"], "default_ttl": 7 * DAY},
            {"name": "cdn", "nodes": ["cdn_accelerator", "desktop_cdn"], "default_ttl": DAY},
            {"name": "metadata", "nodes": ["metadata_cache", "audit_log_cache"], "default_ttl": 3600},
        ],
    },
    {
        "slug": "ecommerce",
        "name": "E-commerce",
        "description": "Storefronts: catalogue, carts, sessions and search.",
        "namespaces": [
            {"name": "catalog", "nodes": ["product_catalog_cache", "search_results_cache"], "default_ttl": 900},
            {"name": "sessions", "nodes": ["session_cache", "cart_cache"], "default_ttl": 2 * DAY},
            {"name": "api", "nodes": ["api_response_cache", "rate_limit_counters"], "default_ttl": 300},
        ],
    },
    {
        "slug": "media",
        "name": "Media and streaming",
        "description": "Video and audio platforms: manifests, thumbnails, large assets.",
        "namespaces": [
            {"name": "assets", "nodes": ["file_dedup_cache", "cdn_accelerator"], "default_ttl": 30 * DAY},
            {"name": "manifests", "nodes": ["media_manifest_cache"], "default_ttl": 60},
            {"name": "thumbnails", "nodes": ["thumbnail_cache"], "default_ttl": 7 * DAY},
        ],
    },
    {
        "slug": "saas",
        "name": "SaaS",
        "description": "Multi-tenant web apps: sessions, feature flags, API responses.",
        "namespaces": [
            {"name": "app", "nodes": ["kv_cache", "api_response_cache"], "default_ttl": 3600},
            {"name": "sessions", "nodes": ["session_cache"], "default_ttl": DAY},
            {"name": "flags", "nodes": ["feature_flag_cache", "rate_limit_counters"], "default_ttl": 300},
        ],
    },
    {
        "slug": "finance",
        "name": "Finance",
        "description": "Trading and payments: market data, risk scores, audit buffers.",
        "namespaces": [
            {"name": "market-data", "nodes": ["market_data_cache"], "default_ttl": 5},
            {"name": "risk", "nodes": ["risk_score_cache", "api_response_cache"], "default_ttl": 600},
            {"name": "audit", "nodes": ["audit_log_cache"], "default_ttl": DAY},
        ],
    },
    {
        "slug": "healthcare",
        "name": "Healthcare",
        "description": "Clinical apps: FHIR resources, eligibility checks, audit buffers.",
        "namespaces": [
            {"name": "fhir", "nodes": ["fhir_resource_cache"], "default_ttl": 300},
            {"name": "eligibility", "nodes": ["eligibility_cache", "api_response_cache"], "default_ttl": 3600},
            {"name": "audit", "nodes": ["audit_log_cache"], "default_ttl": DAY},
        ],
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("tenants", "Plan")
    Sector = apps.get_model("tenants", "Sector")
    for plan in PLANS:
        Plan.objects.get_or_create(slug=plan["slug"], defaults={k: v for k, v in plan.items() if k != "slug"})
    for sector in SECTORS:
        Sector.objects.get_or_create(slug=sector["slug"], defaults={k: v for k, v in sector.items() if k != "slug"})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

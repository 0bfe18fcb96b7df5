"""The catalogue of nodes: a node is a capability switched on for a namespace.

This is the one place nodes are defined; sector templates, namespace
validation, the admin and the portal all read it.
"""

NODES = {
    # File storage / delivery
    "seagate_lyve_connector": "Read-through from the customer's S3-compatible origin (Seagate Lyve Cloud, AWS S3, "
    "MinIO): a miss is fetched once, stored deduplicated and served locally afterwards.",
    "file_dedup_cache": "Content-addressed file store with content-defined chunking: near-duplicate files store "
    "and transfer only the chunks that changed.",
    "cdn_accelerator": "Edge cache for large downloads, with the desktop-CDN evaluator for sizing and policy.",
    "desktop_cdn": "Sizing, tiering and eviction advice for the cache inside the customer's desktop app "
    "(served on localhost:53777), computed from its access history.",
    "metadata_cache": "Key/value cache for file and object metadata (listings, HEAD results, checksums).",
    "audit_log_cache": "Short-lived buffer of audit events before they are shipped to long-term storage.",
    # General key/value capabilities
    "kv_cache": "General-purpose key/value cache with TTLs and batches.",
    "session_cache": "User sessions and login state with sliding TTLs.",
    "api_response_cache": "Responses of slow upstream APIs, keyed by request.",
    "rate_limit_counters": "Counters for per-user and per-client rate limiting.",
    "feature_flag_cache": "Feature flags and remote configuration close to the app.",
    # Commerce
    "product_catalog_cache": "Product, price and inventory snapshots for catalogue pages.",
    "cart_cache": "Shopping carts between visits.",
    "search_results_cache": "Results of expensive search and facet queries.",
    # Media
    "media_manifest_cache": "HLS/DASH manifests and rendition metadata.",
    "thumbnail_cache": "Thumbnails and poster frames.",
    # Finance
    "market_data_cache": "Quotes and reference data with short TTLs.",
    "risk_score_cache": "Precomputed risk and fraud scores.",
    # Healthcare
    "fhir_resource_cache": "FHIR resources read from the EHR (no PHI beyond the TTL).",
    "eligibility_cache": "Insurance eligibility answers from payers.",
}

NODE_CHOICES = sorted(NODES)


def describe(node):
    return NODES[node]


def unknown_nodes(nodes):
    return sorted(set(nodes) - set(NODES))

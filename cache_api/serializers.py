"""Shapes of the cache API's bodies, for the OpenAPI schema.

The views validate with cache_api.keyspace (fast, and the error names the field exactly);
these serializers describe the same contract for /api/schema/ and /api/docs/.
"""

from rest_framework import serializers

from cache_api import keyspace

KEY_HELP = f"1 to {keyspace.MAX_KEY_BYTES} bytes of UTF-8, no control characters."
TTL_HELP = (
    f"Seconds, {keyspace.MIN_TTL} to {keyspace.MAX_TTL}. Default: the namespace's default TTL "
    f"({keyspace.FALLBACK_TTL} if it has none)."
)
VALUE_HELP = "Any JSON value (object, array, string, number, boolean or null), at most the plan's max value size."


class AnyJsonField(serializers.JSONField):
    pass


class SetRequest(serializers.Serializer):
    key = serializers.CharField(help_text=KEY_HELP, max_length=keyspace.MAX_KEY_BYTES)
    value = AnyJsonField(help_text=VALUE_HELP)
    ttl = serializers.IntegerField(
        required=False, allow_null=True, min_value=keyspace.MIN_TTL, max_value=keyspace.MAX_TTL, help_text=TTL_HELP
    )


class SetResponse(serializers.Serializer):
    key = serializers.CharField()
    namespace = serializers.CharField()
    ttl = serializers.IntegerField(help_text="The TTL applied, in seconds.")
    size = serializers.IntegerField(help_text="Bytes stored (the value's compact JSON encoding).")


class KeyRequest(serializers.Serializer):
    key = serializers.CharField(help_text=KEY_HELP, max_length=keyspace.MAX_KEY_BYTES)


class GetResponse(serializers.Serializer):
    hit = serializers.BooleanField()
    key = serializers.CharField()
    value = AnyJsonField(required=False, help_text="Present on a hit: the value as it was set.")
    ttl_remaining = serializers.IntegerField(required=False, help_text="Present on a hit: whole seconds left.")


class DeleteResponse(serializers.Serializer):
    key = serializers.CharField()
    deleted = serializers.BooleanField(help_text="False when the key did not exist (or had expired).")


class MgetRequest(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=keyspace.MAX_KEY_BYTES),
        min_length=1,
        max_length=keyspace.MAX_BATCH,
        help_text=f"1 to {keyspace.MAX_BATCH} keys; each counts as one get.",
    )


class MgetResponse(serializers.Serializer):
    items = GetResponse(many=True, help_text="One entry per requested key, in request order.")
    hits = serializers.IntegerField()
    misses = serializers.IntegerField()


class MsetItem(SetRequest):
    pass


class MsetRequest(serializers.Serializer):
    items = MsetItem(many=True, help_text=f"1 to {keyspace.MAX_BATCH} items, written atomically; each counts as a set.")


class MsetResponseItem(serializers.Serializer):
    key = serializers.CharField()
    ttl = serializers.IntegerField()
    size = serializers.IntegerField()


class MsetResponse(serializers.Serializer):
    namespace = serializers.CharField()
    count = serializers.IntegerField()
    items = MsetResponseItem(many=True)


class UsageFigures(serializers.Serializer):
    requests = serializers.IntegerField(help_text="Operations: each get, set and delete (mget/mset: each key).")
    hits = serializers.IntegerField()
    misses = serializers.IntegerField()
    hit_rate = serializers.FloatField(help_text="hits / (hits + misses); 0 when there were no gets.")
    bytes_served = serializers.IntegerField(help_text="Value bytes returned on hits.")
    bytes_written = serializers.IntegerField(help_text="Value bytes stored by sets.")


class UsageDay(UsageFigures):
    date = serializers.DateField()


class StatsResponse(serializers.Serializer):
    namespace = serializers.CharField()
    today = UsageFigures(help_text="The current UTC day so far.")
    days = UsageDay(many=True, help_text="The previous 30 UTC days that have usage, oldest first.")


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="What went wrong, for humans.")
    field = serializers.CharField(required=False, help_text="400 only: the offending field, e.g. items[2].ttl.")
    limit = serializers.IntegerField(required=False, help_text="413/429: the plan limit that was exceeded.")


class ErrorResponse(serializers.Serializer):
    error = ErrorDetail()

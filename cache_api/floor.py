"""The benchmark's floor: the least a Django view can do per cache hit (one Redis GET, JSON out).

Routed only when settings.CACHE_API_BENCHMARK_FLOOR is on (benchmarks/cache_api.py sets it).
"""

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

FLOOR_KEY = "ac:bench:floor"


@csrf_exempt
def floor(request):
    from django_redis import get_redis_connection

    value = get_redis_connection(settings.CACHE_API_REDIS_ALIAS).get(FLOOR_KEY)
    body = orjson.dumps({"hit": value is not None, "value": orjson.Fragment(value) if value else None})
    return HttpResponse(body, content_type="application/json")

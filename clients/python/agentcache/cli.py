"""agentcache upload|download|sync (settings from flags or AGENTCACHE_URL / _API_KEY / _NAMESPACE)."""

import argparse
import json
import os
import sys

from agentcache.client import AgentCacheError, Client


def build_parser():
    parser = argparse.ArgumentParser(prog="agentcache", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("AGENTCACHE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("AGENTCACHE_API_KEY"))
    parser.add_argument("--namespace", default=os.environ.get("AGENTCACHE_NAMESPACE", "storage"))
    parser.add_argument(
        "--cache-dir",
        default=os.environ.get("AGENTCACHE_CACHE_DIR", os.path.expanduser("~/.cache/agentcache/chunks")),
    )
    parser.add_argument("--no-progress", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a file, sending only chunks the server lacks")
    upload.add_argument("local")
    upload.add_argument("remote")
    download = commands.add_parser("download", help="download a file, fetching only chunks not cached locally")
    download.add_argument("remote")
    download.add_argument("local")
    sync = commands.add_parser("sync", help="upload every changed file of a folder")
    sync.add_argument("local_dir")
    sync.add_argument("remote_prefix", nargs="?", default="")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.api_key:
        print("agentcache: set --api-key or AGENTCACHE_API_KEY", file=sys.stderr)
        return 2
    client = Client(
        args.url,
        args.api_key,
        args.namespace,
        cache_dir=args.cache_dir,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    try:
        if args.command == "upload":
            result = client.upload(args.local, args.remote)
        elif args.command == "download":
            result = client.download(args.remote, args.local)
        else:
            result = client.sync(args.local_dir, args.remote_prefix)
    except AgentCacheError as exc:
        print(f"agentcache: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AgentCache Python client: chunk locally, send only what the server lacks, fetch only changed chunks."""

from agentcache.client import AgentCacheError, Client, UnsupportedProfile

__all__ = ["AgentCacheError", "Client", "UnsupportedProfile"]
__version__ = "0.2.0"

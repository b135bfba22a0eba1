"""kdu_osm: N2VC's Helm connectors for OSM's LCM, driving KDUs through a kdu server (docs/osm.md)."""

from .client import KduClient
from .connector import K8sHelm3Connector, K8sHelmConnector, generate_name
from .exceptions import K8sException, KduException

__all__ = ["K8sHelm3Connector", "K8sHelmConnector", "K8sException", "KduException", "KduClient", "generate_name"]
__version__ = "0.1.0"

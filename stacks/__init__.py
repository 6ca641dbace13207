"""One module per provider, all exposing `create_cluster(settings) -> Cluster`."""

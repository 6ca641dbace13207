"""MongoDB, sharded: config servers, shard replica sets and mongos, set up by one-shot Jobs."""

from components.workloads.mongodb import pods
from components.workloads.mongodb.component import (
    ClientUser,
    MongoDB,
    MongoDBArgs,
    ShardedCollection,
)
from components.workloads.mongodb.pods import CLIENT_LABEL, MONGO_IMAGE

__all__ = ["CLIENT_LABEL", "MONGO_IMAGE", "ClientUser", "MongoDB", "MongoDBArgs",
           "ShardedCollection", "pods"]

"""The bridge (`cachesync run`): this cluster's invalidations to the topic, the others' to local caches."""

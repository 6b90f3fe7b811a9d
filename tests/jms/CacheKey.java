package org.wso2.carbon.identity.core.cache;

import java.io.Serializable;

/**
 * Stands in for WSO2 IS's org.wso2.carbon.identity.core.cache.CacheKey: the same name,
 * serialVersionUID and (no) fields, so a key object serializes to the bytes IS writes
 * (../shared/wire/wso2-key-vectors.json, "oauth-cache-key-object").
 */
public abstract class CacheKey implements Serializable {
    private static final long serialVersionUID = 1L;
}

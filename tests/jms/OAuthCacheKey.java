package org.wso2.carbon.identity.oauth.cache;

import org.wso2.carbon.identity.core.cache.CacheKey;

/**
 * Stands in for WSO2 IS's OAuthCacheKey (the key of OAuthCache, where the seed's revoked
 * token lives): same class name, serialVersionUID 2 and one field, cacheKeyString, so that
 * its Java serialization stream is byte for byte the one in wso2-key-vectors.json.
 */
public class OAuthCacheKey extends CacheKey {
    private static final long serialVersionUID = 2L;
    private String cacheKeyString;

    public OAuthCacheKey(String cacheKeyString) {
        this.cacheKeyString = cacheKeyString;
    }

    public String getCacheKeyString() {
        return cacheKeyString;
    }
}

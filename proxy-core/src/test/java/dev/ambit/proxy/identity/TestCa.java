package dev.ambit.proxy.identity;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.testing.InProcessCa;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The one CA fixture of the proxies' tests (identity and proxies): mesh-testing's
 * {@link InProcessCa} plus this module's client side, so certificates under test are the
 * ones the agent would get in production.
 */
public final class TestCa extends InProcessCa {

    private CaClient issuer;

    public TestCa(Path dir, Duration leafLifetime) throws IOException {
        super(dir, leafLifetime);
    }

    public TrustBundle bundle() {
        return TrustBundle.of(TRUST_DOMAIN, ca.roots());
    }

    public CaClient.Builder client() {
        return CaClient.builder(channel, tokenFile);
    }

    /** A certificate for {@code identity}, which must be {@linkplain #placeOnNode placed} on node-1. */
    public WorkloadCertificate issue(SpiffeId identity)
            throws InterruptedException, ExecutionException, TimeoutException {
        if (issuer == null) {
            issuer = client().trustBundle(bundle()).build();
        }
        return issuer.issue(identity).get(10, TimeUnit.SECONDS);
    }
}

package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.pem.Pem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXCertPathValidatorResult;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mesh's certificate authority: issues workload certificates for SPIFFE identities.
 * Thread-safe; {@link #sign} holds no lock.
 *
 * <h2>Where the signing key comes from</h2>
 * {@link Builder#build()} looks in one directory:
 * <ul>
 *   <li><b>Plug-in CA</b>, Istio's file names: {@value #PLUGIN_CERT} (the signing CA
 *       certificate), {@value #PLUGIN_KEY} (its key), {@value #PLUGIN_ROOT} (the root or
 *       roots) and optionally {@value #PLUGIN_CHAIN} (intermediates between the signing
 *       certificate and the root; it may also repeat both, as Istio's tooling writes it).
 *       The chain must validate up to a root. Issued chains are leaf, signing certificate,
 *       intermediates, root.</li>
 *   <li>Otherwise a <b>self-signed root</b>, {@value #SELF_SIGNED_CERT} and
 *       {@value #SELF_SIGNED_KEY}: generated on first start (ECDSA P-256, 10 years,
 *       {@code O=<trust domain>}) and loaded on later starts. Issued chains are leaf, root.</li>
 * </ul>
 * The CA never writes into a directory that holds plug-in files, and never replaces a
 * root it finds: a missing half of a pair is an error, so a lost key is noticed instead of
 * silently re-rooting the mesh.
 *
 * <h2>What it issues</h2>
 * ECDSA P-256 leaves only: empty subject, exactly one URI SAN (the SPIFFE ID, critical as
 * RFC 5280 requires for an empty subject), key usage digitalSignature and keyEncipherment,
 * extended key usage serverAuth and clientAuth, not a CA, a random 128-bit serial. Valid
 * from a minute ago (clock skew between nodes) for {@link Builder#leafLifetime(Duration)},
 * or less when asked, never beyond the signing certificate.
 */
public final class CertificateAuthority {

    /** Istio's plug-in CA file names (the {@code cacerts} secret). */
    public static final String PLUGIN_CERT = "ca-cert.pem";
    public static final String PLUGIN_KEY = "ca-key.pem";
    public static final String PLUGIN_ROOT = "root-cert.pem";
    public static final String PLUGIN_CHAIN = "cert-chain.pem";
    /** The self-signed root's files; distinct from the plug-in names so the two never mix. */
    public static final String SELF_SIGNED_CERT = "ambit-root-cert.pem";
    public static final String SELF_SIGNED_KEY = "ambit-root-key.pem";

    public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";
    public static final Duration DEFAULT_LEAF_LIFETIME = Duration.ofHours(24);
    static final Duration ROOT_LIFETIME = Duration.ofDays(3650);
    static final Duration CLOCK_SKEW = Duration.ofMinutes(1);

    private static final Logger logger = LoggerFactory.getLogger(CertificateAuthority.class);

    private final String trustDomain;
    private final Duration leafLifetime;
    private final Clock clock;
    private final SecureRandom random;
    private final PrivateKey signingKey;
    private final X509Certificate signingCertificate;
    private final String signatureAlgorithm;
    private final AuthorityKeyIdentifier authorityKeyIdentifier;
    /** Signing certificate up to and including the root; for a self-signed CA just the root. */
    private final List<X509Certificate> chainAboveLeaf;
    private final List<X509Certificate> roots;
    private final boolean pluggedIn;

    private CertificateAuthority(Builder builder, PrivateKey signingKey, List<X509Certificate> chainAboveLeaf,
                                 List<X509Certificate> roots, boolean pluggedIn, SecureRandom random) {
        this.trustDomain = builder.trustDomain;
        this.leafLifetime = builder.leafLifetime;
        this.clock = builder.clock;
        this.random = random;
        this.signingKey = signingKey;
        this.signingCertificate = chainAboveLeaf.getFirst();
        this.signatureAlgorithm = signatureAlgorithm(signingKey);
        this.authorityKeyIdentifier = authorityKeyIdentifier(signingCertificate);
        this.chainAboveLeaf = List.copyOf(chainAboveLeaf);
        this.roots = List.copyOf(roots);
        this.pluggedIn = pluggedIn;
    }

    /** A CA keeping its root in {@code directory}, trust domain {@value #DEFAULT_TRUST_DOMAIN}, 24 h leaves. */
    public static CertificateAuthority of(Path directory) {
        return builder(directory).build();
    }

    public static Builder builder(Path directory) {
        return new Builder(directory);
    }

    /** The trust domain whose identities this CA certifies. */
    public String trustDomain() {
        return trustDomain;
    }

    /** The longest lifetime a leaf gets. */
    public Duration leafLifetime() {
        return leafLifetime;
    }

    /** True when signing with Istio plug-in files rather than a self-signed root. */
    public boolean isPluggedIn() {
        return pluggedIn;
    }

    /** The certificate whose key signs leaves: the root, or the plug-in {@value #PLUGIN_CERT}. */
    public X509Certificate signingCertificate() {
        return signingCertificate;
    }

    /** The trust anchors workloads should accept: every certificate of the root file. */
    public List<X509Certificate> roots() {
        return roots;
    }

    /** {@link #roots()} in PEM, what node agents distribute as the trust bundle. */
    public String trustBundlePem() {
        return Pem.encode(roots);
    }

    /** Same as {@link #sign(CertificateSigningRequest, SpiffeId, Duration)} with the full lifetime. */
    public List<X509Certificate> sign(CertificateSigningRequest csr, SpiffeId identity) {
        return sign(csr, identity, leafLifetime);
    }

    /**
     * Issues a leaf certificate for {@code identity} on the CSR's key. The caller has already
     * decided that the requester may hold this identity; the CSR's own SANs are not used.
     *
     * @param requestedLifetime how long the requester wants it valid; cut to
     *        {@link #leafLifetime()} and to the signing certificate's end
     * @return the chain, leaf first, root last
     * @throws IllegalArgumentException when the identity is outside this CA's trust domain or
     *         the lifetime is not positive
     * @throws IllegalStateException when the signing certificate has expired or signing fails
     */
    public List<X509Certificate> sign(CertificateSigningRequest csr, SpiffeId identity, Duration requestedLifetime) {
        requireNonNull(csr, "csr");
        requireNonNull(identity, "identity");
        Checks.positive(requestedLifetime, "requestedLifetime");
        if (!identity.trustDomain().equals(trustDomain)) {
            throw new IllegalArgumentException("identity: " + identity + " (expected: in trust domain "
                    + trustDomain + ")");
        }
        // Whole seconds: X.509 times have no fraction, so the lifetime stays exact.
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
        Duration lifetime = requestedLifetime.compareTo(leafLifetime) < 0 ? requestedLifetime : leafLifetime;
        Instant notAfter = now.plus(lifetime);
        Instant signerNotAfter = signingCertificate.getNotAfter().toInstant();
        if (!signerNotAfter.isAfter(now)) {
            throw new IllegalStateException("signing certificate " + signingCertificate.getSubjectX500Principal()
                    + " expired at " + signerNotAfter + " (replace the CA files in the CA directory)");
        }
        if (notAfter.isAfter(signerNotAfter)) {
            // A leaf outliving its issuer would fail validation from then on anyway.
            notAfter = signerNotAfter;
        }
        X509v3CertificateBuilder leaf = new X509v3CertificateBuilder(
                issuerName(signingCertificate), serialNumber(random), Date.from(now.minus(CLOCK_SKEW)),
                Date.from(notAfter), new X500Name(new RDN[0]),
                csr.subjectPublicKeyInfo());
        try {
            leaf.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            leaf.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            leaf.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            leaf.addExtension(Extension.authorityKeyIdentifier, false, authorityKeyIdentifier);
            // Critical: the subject is empty, so the SAN is the certificate's only name (RFC 5280 4.2.1.6).
            leaf.addExtension(Extension.subjectAlternativeName, true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri())));
        } catch (CertIOException e) {
            throw new IllegalStateException("cannot encode the extensions of " + identity, e);
        }
        List<X509Certificate> chain = new ArrayList<>(chainAboveLeaf.size() + 1);
        chain.add(build(leaf, signingKey, signatureAlgorithm));
        chain.addAll(chainAboveLeaf);
        return List.copyOf(chain);
    }

    /**
     * Issues istiod-lite's own serving certificate (for the TLS xDS and CA port) on
     * {@code key}, with DNS names such as {@code istiod.istio-system.svc}, so clients
     * verify the control plane against the same trust bundle as workloads.
     *
     * @return the chain, leaf first, root last
     */
    public List<X509Certificate> issueServing(java.security.PublicKey key, List<String> dnsNames, Duration lifetime) {
        requireNonNull(key, "key");
        requireNonNull(dnsNames, "dnsNames");
        requireNonNull(lifetime, "lifetime");
        if (dnsNames.isEmpty()) {
            throw new IllegalArgumentException("dnsNames: empty (expected: at least one name)");
        }
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
        Instant notAfter = now.plus(lifetime);
        Instant signerNotAfter = signingCertificate.getNotAfter().toInstant();
        if (notAfter.isAfter(signerNotAfter)) {
            notAfter = signerNotAfter;
        }
        X509v3CertificateBuilder leaf = new X509v3CertificateBuilder(
                issuerName(signingCertificate), serialNumber(random), Date.from(now.minus(CLOCK_SKEW)),
                Date.from(notAfter), new X500Name(new RDN[0]),
                org.bouncycastle.asn1.x509.SubjectPublicKeyInfo.getInstance(key.getEncoded()));
        try {
            leaf.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            leaf.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            leaf.addExtension(Extension.extendedKeyUsage, false,
                    new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth}));
            leaf.addExtension(Extension.authorityKeyIdentifier, false, authorityKeyIdentifier);
            GeneralName[] names = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n))
                    .toArray(GeneralName[]::new);
            leaf.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(names));
        } catch (CertIOException e) {
            throw new IllegalStateException("cannot encode the extensions of serving certificate " + dnsNames, e);
        }
        List<X509Certificate> chain = new ArrayList<>(chainAboveLeaf.size() + 1);
        chain.add(build(leaf, signingKey, signatureAlgorithm));
        chain.addAll(chainAboveLeaf);
        return List.copyOf(chain);
    }

    /** Configures a {@link CertificateAuthority}. */
    public static final class Builder {
        private final Path directory;
        private String trustDomain = DEFAULT_TRUST_DOMAIN;
        private Duration leafLifetime = DEFAULT_LEAF_LIFETIME;
        private Clock clock = Clock.systemUTC();

        private Builder(Path directory) {
            this.directory = requireNonNull(directory, "directory");
        }

        /** The trust domain of issued identities and of a generated root's subject. */
        public Builder trustDomain(String trustDomain) {
            requireNonNull(trustDomain, "trustDomain");
            // SpiffeId owns the syntax; a probe identity reuses its check and message.
            SpiffeId.of(trustDomain, "probe", "probe");
            this.trustDomain = trustDomain;
            return this;
        }

        /** How long leaves are valid at most; 24 hours by default. Requests may ask for less. */
        public Builder leafLifetime(Duration leafLifetime) {
            Checks.positive(leafLifetime, "leafLifetime");
            this.leafLifetime = leafLifetime;
            return this;
        }

        /** The time source for validity periods (tests). */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Loads the CA from the directory, generating a self-signed root there on first use.
         *
         * @throws IllegalStateException when the files are incomplete, unreadable as PEM,
         *         mismatched, not a CA or expired; the message names the file and the fix
         * @throws UncheckedIOException when the directory cannot be read or written
         */
        public CertificateAuthority build() {
            try {
                SecureRandom random = new SecureRandom();
                if (hasPluginFiles(directory)) {
                    return loadPlugin(this, random);
                }
                return loadOrCreateSelfSigned(this, random);
            } catch (IOException e) {
                throw new UncheckedIOException("CA directory " + directory + ": " + e.getMessage(), e);
            }
        }
    }

    private static boolean hasPluginFiles(Path dir) {
        return Files.exists(dir.resolve(PLUGIN_CERT)) || Files.exists(dir.resolve(PLUGIN_KEY))
                || Files.exists(dir.resolve(PLUGIN_ROOT)) || Files.exists(dir.resolve(PLUGIN_CHAIN));
    }

    private static CertificateAuthority loadPlugin(Builder b, SecureRandom random) throws IOException {
        Path dir = b.directory;
        List<String> missing = new ArrayList<>();
        for (String name : List.of(PLUGIN_CERT, PLUGIN_KEY, PLUGIN_ROOT)) {
            if (!Files.exists(dir.resolve(name))) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("CA directory " + dir + ": plug-in CA files incomplete, missing "
                    + String.join(", ", missing) + " (expected: " + PLUGIN_CERT + ", " + PLUGIN_KEY + ", "
                    + PLUGIN_ROOT + " and optionally " + PLUGIN_CHAIN + ")");
        }
        Path certFile = dir.resolve(PLUGIN_CERT);
        List<X509Certificate> caCerts = Pem.readCertificates(certFile);
        if (caCerts.size() != 1) {
            throw new IllegalStateException(certFile + ": " + caCerts.size() + " certificates (expected: one,"
                    + " the signing CA certificate; put intermediates in " + PLUGIN_CHAIN + ")");
        }
        X509Certificate caCert = caCerts.getFirst();
        PrivateKey key = Pem.readPrivateKey(dir.resolve(PLUGIN_KEY));
        warnIfExposed(dir.resolve(PLUGIN_KEY));
        checkSigningPair(certFile, caCert, dir.resolve(PLUGIN_KEY), key);

        List<X509Certificate> roots = Pem.readCertificates(dir.resolve(PLUGIN_ROOT));
        Set<X509Certificate> known = new HashSet<>(roots);
        known.add(caCert);
        // Istio's cert-chain.pem usually repeats ca-cert and the root; keep only what lies between.
        List<X509Certificate> intermediates = new ArrayList<>();
        Path chainFile = dir.resolve(PLUGIN_CHAIN);
        if (Files.exists(chainFile)) {
            for (X509Certificate c : Pem.readCertificates(chainFile)) {
                if (known.add(c)) {
                    intermediates.add(c);
                }
            }
        }
        List<X509Certificate> path = new ArrayList<>();
        path.add(caCert);
        path.addAll(intermediates);
        X509Certificate root = validateToRoot(dir, path, roots);

        List<X509Certificate> chain = new ArrayList<>(path);
        // A self-signed root plugged in as the signing certificate (the charts' generated CA
        // Secret) already ends the path: listed twice, TLS stacks refuse the chain as a loop.
        if (!path.getLast().equals(root)) {
            chain.add(root);
        }
        CertificateAuthority ca = new CertificateAuthority(b, key, chain, roots, true, random);
        logger.info("CA: plug-in CA from {}: signing as {} (valid until {}), root {}", dir,
                caCert.getSubjectX500Principal(), caCert.getNotAfter().toInstant(), root.getSubjectX500Principal());
        return ca;
    }

    private static CertificateAuthority loadOrCreateSelfSigned(Builder b, SecureRandom random) throws IOException {
        Path dir = b.directory;
        Path certFile = dir.resolve(SELF_SIGNED_CERT);
        Path keyFile = dir.resolve(SELF_SIGNED_KEY);
        boolean haveCert = Files.exists(certFile);
        boolean haveKey = Files.exists(keyFile);
        if (haveCert != haveKey) {
            Path present = haveCert ? certFile : keyFile;
            Path absent = haveCert ? keyFile : certFile;
            throw new IllegalStateException("CA directory " + dir + ": " + present.getFileName() + " without "
                    + absent.getFileName() + " (restore it; or remove " + present.getFileName()
                    + " to generate a new root, after which every workload needs new certificates)");
        }
        if (!haveCert) {
            return createSelfSigned(b, random);
        }
        List<X509Certificate> certs = Pem.readCertificates(certFile);
        if (certs.size() != 1) {
            throw new IllegalStateException(certFile + ": " + certs.size() + " certificates (expected: one, the root)");
        }
        X509Certificate root = certs.getFirst();
        PrivateKey key = Pem.readPrivateKey(keyFile);
        warnIfExposed(keyFile);
        checkSigningPair(certFile, root, keyFile, key);
        Instant notAfter = root.getNotAfter().toInstant();
        if (!notAfter.isAfter(b.clock.instant())) {
            throw new IllegalStateException(certFile + ": the root expired at " + notAfter + " (remove "
                    + SELF_SIGNED_CERT + " and " + SELF_SIGNED_KEY + " to generate a new root, or plug in a CA)");
        }
        logger.info("CA: loaded self-signed root {} from {} (valid until {})", root.getSubjectX500Principal(), dir,
                notAfter);
        return new CertificateAuthority(b, key, List.of(root), List.of(root), false, random);
    }

    private static CertificateAuthority createSelfSigned(Builder b, SecureRandom random) throws IOException {
        Path dir = b.directory;
        KeyPair pair;
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), random);
            pair = generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot generate an EC P-256 key: " + e.getMessage(), e);
        }
        Instant now = b.clock.instant().truncatedTo(ChronoUnit.SECONDS);
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, b.trustDomain).build();
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(pair.getPublic().getEncoded());
        X509v3CertificateBuilder builder = new X509v3CertificateBuilder(subject, serialNumber(random),
                Date.from(now.minus(CLOCK_SKEW)), Date.from(now.plus(ROOT_LIFETIME)), subject, spki);
        try {
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            builder.addExtension(Extension.subjectKeyIdentifier, false,
                    utils.createSubjectKeyIdentifier(pair.getPublic()));
        } catch (CertIOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot encode the root's extensions", e);
        }
        X509Certificate root = build(builder, pair.getPrivate(), signatureAlgorithm(pair.getPrivate()));

        PrivateFiles.createDirectories(dir);
        // Key first: a crash in between leaves a key without a certificate, which build() reports.
        PrivateFiles.writeAtomically(dir.resolve(SELF_SIGNED_KEY), Pem.encode(pair.getPrivate()));
        PrivateFiles.writeAtomically(dir.resolve(SELF_SIGNED_CERT), Pem.encode(root));
        logger.info("CA: generated self-signed root {} in {} (valid until {})", root.getSubjectX500Principal(), dir,
                root.getNotAfter().toInstant());
        return new CertificateAuthority(b, pair.getPrivate(), List.of(root), List.of(root), false, random);
    }

    private static void warnIfExposed(Path keyFile) {
        try {
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(keyFile);
            if (!PrivateFiles.OWNER_ONLY.containsAll(permissions)) {
                logger.warn("CA: {} is accessible to others ({}); run 'chmod 600 {}'", keyFile,
                        PosixFilePermissions.toString(permissions), keyFile);
            }
        } catch (UnsupportedOperationException | IOException e) {
            // Not a POSIX file system (or a mounted secret without modes): nothing to check.
        }
    }

    /** The key must belong to the certificate and the certificate must be allowed to sign certificates. */
    private static void checkSigningPair(Path certFile, X509Certificate cert, Path keyFile, PrivateKey key) {
        if (cert.getBasicConstraints() < 0) {
            throw new IllegalStateException(certFile + ": " + cert.getSubjectX500Principal()
                    + " is not a CA certificate (expected: basicConstraints CA:true)");
        }
        boolean[] usage = cert.getKeyUsage();
        if (usage != null && !usage[5]) {
            throw new IllegalStateException(certFile + ": " + cert.getSubjectX500Principal()
                    + " may not sign certificates (expected: keyUsage keyCertSign)");
        }
        // A key cannot be compared with a certificate directly; a signature made with one
        // and verified with the other shows they are a pair (KeyPairs). First: a key the CA can sign with.
        try {
            signatureAlgorithm(key);
        } catch (IllegalStateException e) {
            throw new IllegalStateException(keyFile + ": " + e.getMessage(), e);
        }
        boolean matches = dev.ambit.common.pem.KeyPairs.check(key, cert) == dev.ambit.common.pem.KeyPairs.Match.MATCHES;
        if (!matches) {
            throw new IllegalStateException(keyFile + ": not the key of " + certFile.getFileName() + " ("
                    + cert.getSubjectX500Principal() + "); expected the private key matching that certificate");
        }
    }

    /** Validates signing certificate + intermediates up to one of the roots; returns that root. */
    private static X509Certificate validateToRoot(Path dir, List<X509Certificate> path, List<X509Certificate> roots) {
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate root : roots) {
            anchors.add(new TrustAnchor(root, null));
        }
        try {
            CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
            PKIXParameters parameters = new PKIXParameters(anchors);
            parameters.setRevocationEnabled(false);
            PKIXCertPathValidatorResult result =
                    (PKIXCertPathValidatorResult) CertPathValidator.getInstance("PKIX").validate(certPath, parameters);
            return result.getTrustAnchor().getTrustedCert();
        } catch (CertPathValidatorException e) {
            String at = e.getIndex() >= 0 && e.getIndex() < path.size()
                    ? " at " + path.get(e.getIndex()).getSubjectX500Principal() : "";
            throw new IllegalStateException("CA directory " + dir + ": " + PLUGIN_CERT + " does not validate to "
                    + PLUGIN_ROOT + at + ": " + e.getMessage() + " (expected: " + PLUGIN_CHAIN
                    + " to hold the intermediates in order, signing certificate first)", e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("CA directory " + dir + ": cannot validate the plug-in chain: "
                    + e.getMessage(), e);
        }
    }

    private static X509Certificate build(X509v3CertificateBuilder builder, PrivateKey key, String algorithm) {
        try {
            ContentSigner signer = new JcaContentSignerBuilder(algorithm).build(key);
            return new JcaX509CertificateConverter().getCertificate(builder.build(signer));
        } catch (OperatorCreationException | CertificateException e) {
            throw new IllegalStateException("cannot sign with a " + key.getAlgorithm() + " key (" + algorithm + "): "
                    + e.getMessage(), e);
        }
    }

    /** The issuer name exactly as encoded in the signing certificate, so path building matches bytes. */
    private static X500Name issuerName(X509Certificate signer) {
        try {
            return new JcaX509CertificateHolder(signer).getSubject();
        } catch (CertificateException e) {
            throw new IllegalStateException("cannot read " + signer.getSubjectX500Principal(), e);
        }
    }

    /** The signer's own subject key identifier when it has one (plug-in CAs may compute it differently). */
    private static AuthorityKeyIdentifier authorityKeyIdentifier(X509Certificate signer) {
        byte[] extension = signer.getExtensionValue(Extension.subjectKeyIdentifier.getId());
        if (extension != null) {
            byte[] keyId = SubjectKeyIdentifier.getInstance(
                    ASN1OctetString.getInstance(extension).getOctets()).getKeyIdentifier();
            return new AuthorityKeyIdentifier(keyId);
        }
        try {
            return new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(signer.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-1 unavailable for key identifiers", e);
        }
    }

    /** A positive random serial of up to 128 bits (RFC 5280 allows 20 octets; CAs use at least 64 random bits). */
    private static BigInteger serialNumber(SecureRandom random) {
        BigInteger serial;
        do {
            serial = new BigInteger(128, random);
        } while (serial.signum() == 0);
        return serial;
    }

    /** Hash size follows the key size, as for ECDSA it must not be weaker than the curve. */
    static String signatureAlgorithm(PrivateKey key) {
        return switch (key.getAlgorithm()) {
            case "EC" -> {
                int bits = ((ECKey) key).getParams().getOrder().bitLength();
                yield bits <= 256 ? "SHA256withECDSA" : bits <= 384 ? "SHA384withECDSA" : "SHA512withECDSA";
            }
            case "RSA" -> "SHA256withRSA";
            default -> throw new IllegalStateException("CA key type " + key.getAlgorithm()
                    + " is not supported (expected: EC or RSA)");
        };
    }
}

package dev.ambit.proxy.xds;

/**
 * A response from the control plane that the node agent cannot apply: a resource of the
 * wrong type, one that does not parse, or one the state rejects. Its message is what the
 * client sends back as the NACK's {@code error_detail}.
 */
public final class XdsException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public XdsException(String message) {
        super(message);
    }

    public XdsException(String message, Throwable cause) {
        super(message, cause);
    }
}

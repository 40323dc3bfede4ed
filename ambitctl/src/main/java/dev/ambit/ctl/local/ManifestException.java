package dev.ambit.ctl.local;

/** Input the user gave that cannot be applied: the message names the file, the object and what is wrong. */
public final class ManifestException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ManifestException(String message) {
        super(message);
    }
}

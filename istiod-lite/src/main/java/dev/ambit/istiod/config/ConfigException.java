package dev.ambit.istiod.config;

/** A config source cannot start: the folder is missing, the API server unreachable. */
public final class ConfigException extends Exception {

    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.ambit.istiod.config.kube;

import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** How {@link KubernetesSource} reads the API server's failures. */
final class ApiErrors {

    private ApiErrors() {}

    /** Whether {@code t} or one of its causes is the API server's 404. */
    static boolean isNotFound(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof KubernetesClientException k && k.getCode() == 404) {
                return true;
            }
        }
        return false;
    }

    /** One line for logs and errors: the HTTP status and the API server's message when there is one. */
    static String describe(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        for (Throwable k = c; k != null; k = k.getCause() == k ? null : k.getCause()) {
            if (k instanceof KubernetesClientException kce && kce.getCode() > 0) {
                String message = kce.getStatus() != null && kce.getStatus().getMessage() != null
                        ? kce.getStatus().getMessage() : kce.getMessage();
                return "HTTP " + kce.getCode() + ": " + message;
            }
        }
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}

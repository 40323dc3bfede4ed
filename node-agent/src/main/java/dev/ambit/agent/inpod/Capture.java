package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.PodRedirection;
import java.util.List;

/**
 * Traffic capture as enrollment sees it: {@link EbpfRedirector} in the agent, a recording
 * fake in tests that have no kernel programs to spare.
 */
public interface Capture {

    /** Starts (or updates) capture of the pod; see {@link EbpfRedirector#enroll}. */
    void enroll(PodRedirection pod);

    /** Stops capture of the pod with this UID; false if it was not captured. */
    boolean unenroll(String uid);

    /** The UIDs captured now, including those a previous agent process enrolled. */
    List<String> enrolledPods();

    /**
     * Stops capture of pod {@code uid} if it is gone (its namespace or cgroup no longer exists);
     * see {@link EbpfRedirector#unenrollIfGone}. False if it is alive or not captured.
     */
    default boolean unenrollIfGone(String uid) {
        return false;
    }

    static Capture of(EbpfRedirector redirector) {
        requireNonNull(redirector, "redirector");
        return new Capture() {
            @Override
            public void enroll(PodRedirection pod) {
                redirector.enroll(pod);
            }

            @Override
            public boolean unenroll(String uid) {
                return redirector.unenroll(uid);
            }

            @Override
            public List<String> enrolledPods() {
                return redirector.enrolledPods();
            }

            @Override
            public boolean unenrollIfGone(String uid) {
                return redirector.unenrollIfGone(uid);
            }
        };
    }
}

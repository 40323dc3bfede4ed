package dev.ambit.ctl.local;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** A pod that should exist, from a Pod manifest or a Deployment ({@link DesiredPods}). */
record DesiredPod(String namespace, String name, String owner, String node, String specHash,
                  ObjectNode metadata, ObjectNode spec, PodTemplate template) {

    String key() {
        return namespace + "/" + name;
    }
}

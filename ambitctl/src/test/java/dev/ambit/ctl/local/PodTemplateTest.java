package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PodTemplateTest {

    @Test
    void commandThenArgsWithKubernetesVariableExpansion() {
        KubeObject pod = Manifests.parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec:
                  restartPolicy: OnFailure
                  serviceAccountName: reader
                  containers:
                  - name: c
                    command: [sh, -c]
                    args: ["echo $(GREETING) $(POD_IP) $$(LITERAL) $(UNKNOWN) $HOME"]
                    env:
                    - {name: WHO, value: world}
                    - {name: GREETING, value: "hello-$(WHO)"}
                    - name: POD_IP
                      valueFrom: {fieldRef: {fieldPath: status.podIP}}
                    ports: [{name: http, containerPort: 8080}]
                """, "p.yaml", s -> { }).getFirst();
        PodTemplate t = PodTemplate.parse(pod.spec(), "spec");
        assertThat(t.restartPolicy()).isEqualTo("OnFailure");
        assertThat(t.serviceAccountName()).isEqualTo("reader");
        PodTemplate.Container c = t.containers().getFirst();
        Map<String, String> env = PodTemplate.environment(c, Map.of("status.podIP", "10.244.1.7"));
        assertThat(env).containsEntry("GREETING", "hello-world").containsEntry("POD_IP", "10.244.1.7");
        assertThat(c.commandLine(env)).containsExactly("sh", "-c",
                "echo hello-world 10.244.1.7 $(LITERAL) $(UNKNOWN) $HOME");
        assertThat(new Services.ServicePort("", 80, "TCP", "http").targetFor(c.ports())).isEqualTo(8080);
        assertThat(new Services.ServicePort("", 80, "TCP", "").targetFor(c.ports())).isEqualTo(80);
        assertThat(new Services.ServicePort("", 80, "TCP", "grpc").targetFor(c.ports())).isEqualTo(-1);
    }

    @Test
    void argsAloneAreTheCommandAndAlwaysIsTheDefaultPolicy() {
        KubeObject pod = Manifests.parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec: {containers: [{name: c, args: [sleep, "5"]}]}
                """, "p.yaml", s -> { }).getFirst();
        PodTemplate t = PodTemplate.parse(pod.spec(), "spec");
        assertThat(t.restartPolicy()).isEqualTo("Always");
        assertThat(t.serviceAccountName()).isEqualTo("default");
        assertThat(t.containers().getFirst().commandLine(Map.of())).containsExactly("sleep", "5");
    }

    @Test
    void backoffIsExponentialAndBounded() {
        assertThat(PodSupervisor.backoff(0).toMillis()).isEqualTo(1000);
        assertThat(PodSupervisor.backoff(3).toMillis()).isEqualTo(8000);
        assertThat(PodSupervisor.backoff(50).toSeconds()).isEqualTo(20);
    }
}

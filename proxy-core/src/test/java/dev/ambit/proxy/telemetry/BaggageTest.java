package dev.ambit.proxy.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadType;
import org.junit.jupiter.api.Test;

class BaggageTest {

    @Test
    void describesTheSourceWithOpenTelemetryKeys() {
        Workload w = Workload.newBuilder().setName("web-7d9-x").setWorkloadName("web").setNamespace("shop")
                .setClusterId("Kubernetes").setWorkloadType(WorkloadType.DEPLOYMENT).setCanonicalName("web")
                .setCanonicalRevision("v1").build();
        assertThat(Baggage.of(w)).isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=shop,"
                + "k8s.deployment.name=web,service.name=web,service.version=v1");
    }

    @Test
    void kindFollowsTheWorkloadType() {
        Workload.Builder w = Workload.newBuilder().setName("p").setNamespace("ns");
        assertThat(Baggage.of(w.setWorkloadType(WorkloadType.CRONJOB).build())).contains("k8s.cronjob.name=p");
        assertThat(Baggage.of(w.setWorkloadType(WorkloadType.JOB).build())).contains("k8s.job.name=p");
        assertThat(Baggage.of(w.setWorkloadType(WorkloadType.POD).build())).contains("k8s.pod.name=p");
    }

    @Test
    void leavesOutEmptyFields() {
        Workload w = Workload.newBuilder().setName("solo").setNamespace("ns").setWorkloadType(WorkloadType.POD).build();
        assertThat(Baggage.of(w)).isEqualTo("k8s.namespace.name=ns,k8s.pod.name=solo");
        assertThat(Baggage.of(Workload.getDefaultInstance())).isEmpty();
        assertThatThrownBy(() -> Baggage.of(null)).hasMessage("source");
    }
}

package dev.ambit.istiod.config.kube;

import static dev.ambit.istiod.config.kube.FixtureSnapshots.normalized;
import static dev.ambit.istiod.config.kube.FixtureSnapshots.withoutOrigin;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.Fixtures;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every fixture folder reads the same from a cluster as from the folder: the same objects
 * (apart from metadata the API server adds) and the same translated xDS resources.
 */
class FixtureEquivalenceTest {

    static Stream<String> fixtures() {
        List<String> names = Fixtures.names();
        assertThat(names).as("fixture folders in %s", Fixtures.root()).isNotEmpty();
        return names.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void clusterSnapshotEqualsFolderSnapshot(String fixture) throws Exception {
        FixtureSnapshots both = FixtureSnapshots.load(fixture);

        assertThat(both.folder().size()).as("objects read from fixture %s", fixture).isPositive();
        assertThat(normalized(both.kube())).as("cluster snapshot of %s", fixture)
                .isEqualTo(normalized(both.folder()));
        assertThat(withoutOrigin(both.kubeErrors())).as("rejections of %s", fixture)
                .isEqualTo(withoutOrigin(both.folderErrors()));

        MeshResources fromKube = AmbientModel.build(both.kube(), MeshConfig.defaults());
        MeshResources fromFolder = AmbientModel.build(both.folder(), MeshConfig.defaults());
        assertThat(fromKube.addresses()).as("addresses of %s", fixture).isEqualTo(fromFolder.addresses());
        assertThat(fromKube.authorizations()).as("authorizations of %s", fixture)
                .isEqualTo(fromFolder.authorizations());
        assertThat(fromKube.warnings()).as("warnings of %s", fixture).isEqualTo(fromFolder.warnings());
    }
}

package dev.ambit.agent.proxy;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.proxy.net.Transport;
import org.junit.jupiter.api.BeforeAll;

/** Every {@link DrainTest} case on io_uring sockets and loops. */
class DrainIoUringTest extends DrainTest {

    @BeforeAll
    static void ioUringAvailable() {
        assumeTrue(Transport.IO_URING.isAvailable(), () -> "io_uring: " + Transport.IO_URING.unavailabilityCause());
    }

    @Override
    Transport transport() {
        return Transport.IO_URING;
    }
}

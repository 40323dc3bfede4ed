package dev.ambit.proxy.net;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeAll;

/**
 * Every {@link TcpRelayTest} case on io_uring sockets. The half-close cases matter most:
 * the relay's FIN handling was written against epoll's behaviour (see {@link EarlyInput}).
 */
class TcpRelayIoUringTest extends TcpRelayTest {

    @BeforeAll
    static void ioUringAvailable() {
        assumeTrue(Transport.IO_URING.isAvailable(), () -> "io_uring: " + Transport.IO_URING.unavailabilityCause());
    }

    @Override
    Transport transport() {
        return Transport.IO_URING;
    }
}

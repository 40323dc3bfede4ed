package dev.ambit.proxy.hbone;

import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DuplexChannel;

/**
 * An {@link EmbeddedChannel} that can be half-closed like a TCP socket and keeps
 * {@code SO_LINGER} as a socket would: {@link #linger()} now, {@link #lingerAtShutdownOutput()}
 * as it was when the output was shut down, {@link #lingerAtClose()} as it was when closed.
 */
class TestTcpChannel extends EmbeddedChannel implements DuplexChannel {

    /** No linger option set: the socket default (off). */
    static final int DEFAULT_LINGER = -1;

    private boolean inputShutdown;
    private boolean outputShutdown;
    private int linger = DEFAULT_LINGER;
    private Integer lingerAtShutdownOutput;
    private Integer lingerAtClose;
    private ChannelConfig config;

    TestTcpChannel(ChannelHandler... handlers) {
        super(handlers);
    }

    @Override
    public ChannelConfig config() {
        if (config == null) {
            // Lazily: EmbeddedChannel's constructor asks for the config before this class's fields exist.
            config = new DefaultChannelConfig(this) {
                @Override
                public <T> boolean setOption(ChannelOption<T> option, T value) {
                    if (option == ChannelOption.SO_LINGER) {
                        linger = (Integer) value;
                        return true;
                    }
                    return super.setOption(option, value);
                }

                @Override
                @SuppressWarnings("unchecked")
                public <T> T getOption(ChannelOption<T> option) {
                    return option == ChannelOption.SO_LINGER ? (T) Integer.valueOf(linger) : super.getOption(option);
                }
            };
        }
        return config;
    }

    int linger() {
        return linger;
    }

    Integer lingerAtShutdownOutput() {
        return lingerAtShutdownOutput;
    }

    Integer lingerAtClose() {
        return lingerAtClose;
    }

    @Override
    protected void doClose() throws Exception {
        if (lingerAtClose == null) {
            lingerAtClose = linger;
        }
        super.doClose();
    }

    @Override
    public boolean isInputShutdown() {
        return inputShutdown;
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        inputShutdown = true;
        return promise.setSuccess();
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown;
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        outputShutdown = true;
        lingerAtShutdownOutput = linger;
        return promise.setSuccess();
    }

    @Override
    public boolean isShutdown() {
        return inputShutdown && outputShutdown;
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        inputShutdown = true;
        outputShutdown = true;
        return promise.setSuccess();
    }
}

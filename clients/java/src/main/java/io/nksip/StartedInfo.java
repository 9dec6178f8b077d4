package io.nksip;

import java.util.List;

/**
 * What the server said when the app (re)joined: its listeners (as {@code udp:127.0.0.1:5060}),
 * the instances now connected, and whether this is a rejoin after a broken stream.
 */
public record StartedInfo(String app, String instanceId, List<String> listeners, String serverVersion,
    int instances, boolean reconnected) {}

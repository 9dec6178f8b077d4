package io.nksip.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real nksip-server for a test: the built CLI ({@code node dist/server/src/cli.js}) as a child
 * process on 127.0.0.1 (listen {@code sip:127.0.0.1:0}, T1 100 ms, T4 200 ms, gRPC on
 * {@code 127.0.0.1:0} unless given), stopped by its PID with {@link #close()}.
 *
 * <pre>{@code
 * try (TestServer srv = TestServer.start(TestServer.cli(), null, Map.of())) {
 *   App app = App.start(new AppOptions("mine").server(srv.grpc()), new MyApp());
 *   String target = "sip:me@127.0.0.1:" + srv.port("udp");
 * }
 * }</pre>
 */
public final class TestServer implements AutoCloseable {
  private static final Pattern GRPC = Pattern.compile("\"grpc\"\\s*:\\s*\"([^\"]+)\"");
  private static final Pattern LISTENERS = Pattern.compile("\"listeners\"\\s*:\\s*\\[([^\\]]*)\\]");
  private static final Pattern STRING = Pattern.compile("\"([^\"]*)\"");

  private final Process process;
  private final Path dir;
  private final String grpc;
  private final List<String> listeners;

  private TestServer(Process process, Path dir, String grpc, List<String> listeners) {
    this.process = process;
    this.dir = dir;
    this.grpc = grpc;
    this.listeners = listeners;
  }

  /**
   * The built CLI: system property {@code nksip.cli}, else env {@code NKSIP_CLI}; null when
   * neither names an existing file.
   */
  public static Path cli() {
    String p = System.getProperty("nksip.cli");
    if (p == null || p.isEmpty()) p = System.getenv("NKSIP_CLI");
    if (p == null || p.isEmpty()) return null;
    Path path = Path.of(p).toAbsolutePath().normalize();
    return Files.isRegularFile(path) ? path : null;
  }

  /** Whether node is on PATH. */
  public static boolean nodeAvailable() {
    for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      if (Files.isExecutable(Path.of(d, "node"))) return true;
    }
    return false;
  }

  /**
   * Starts the server and returns once it printed its start-up line (15 s at most).
   *
   * @param grpc the gRPC address to use (to restart a server on the same one); null: port 0
   * @param config more config entries (values as JSON text, e.g. {@code "\"debug\""})
   */
  public static TestServer start(Path cli, String grpc, Map<String, String> config) throws IOException {
    Map<String, String> cfg = new LinkedHashMap<>();
    cfg.put("listen", "[\"sip:127.0.0.1:0\"]");
    cfg.put("grpc", "\"" + (grpc == null ? "127.0.0.1:0" : grpc) + "\"");
    cfg.put("t1", "100");
    cfg.put("t4", "200");
    cfg.putAll(config);
    cfg.put("logLevel", "\"info\"");
    List<String> entries = new ArrayList<>();
    cfg.forEach((k, v) -> entries.add("\"" + k + "\":" + v));
    Path dir = Files.createTempDirectory("nksip-test");
    Path file = dir.resolve("config.json");
    Files.writeString(file, "{" + String.join(",", entries) + "}");
    Process p = new ProcessBuilder("node", cli.toString(), "--config", file.toString())
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start();
    CompletableFuture<String> line = new CompletableFuture<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String l;
        while ((l = in.readLine()) != null) {
          if (!line.isDone() && l.contains("\"nksip-server started\"")) line.complete(l);
        }
      } catch (IOException ignored) {
        // the process ended
      }
      line.completeExceptionally(new IOException("nksip-server exited before its start-up line"));
    }, "nksip-test-server");
    reader.setDaemon(true);
    reader.start();
    String started;
    try {
      started = line.get(15, TimeUnit.SECONDS);
    } catch (Exception e) {
      p.destroyForcibly();
      throw new IOException("nksip-server did not start: " + e.getMessage(), e);
    }
    Matcher g = GRPC.matcher(started);
    Matcher l = LISTENERS.matcher(started);
    if (!g.find() || !l.find()) {
      p.destroyForcibly();
      throw new IOException("unexpected start-up line: " + started);
    }
    List<String> listeners = new ArrayList<>();
    Matcher s = STRING.matcher(l.group(1));
    while (s.find()) listeners.add(s.group(1));
    return new TestServer(p, dir, g.group(1), List.copyOf(listeners));
  }

  /** The gRPC address, host:port. */
  public String grpc() { return grpc; }

  /** The SIP listeners, as {@code udp:127.0.0.1:5060}. */
  public List<String> listeners() { return listeners; }

  /** The port of the first listener of this transport (udp, tcp...), 0 when none. */
  public int port(String transport) {
    for (String l : listeners) {
      if (l.startsWith(transport + ":")) return Integer.parseInt(l.substring(l.lastIndexOf(':') + 1));
    }
    return 0;
  }

  public long pid() { return process.pid(); }

  /** Stops the server (SIGTERM, SIGKILL after 3 s) and waits for it to exit. Idempotent. */
  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(3, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          process.waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
    try {
      Files.deleteIfExists(dir.resolve("config.json"));
      Files.deleteIfExists(dir);
    } catch (IOException ignored) {
      // a temp dir left behind is harmless
    }
  }
}

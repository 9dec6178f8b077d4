package io.nksip;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The reconnect policy: the delay before attempt n is {@code min(max, initial * factor^(n-1))},
 * less up to {@code jitter} of it at random. {@code maxAttempts} 0 retries forever.
 */
public record Backoff(
    boolean disabled, Duration initial, Duration max, double factor, double jitter, int maxAttempts) {
  /** 100 ms doubling up to 10 s, jitter 0.5, unlimited attempts. */
  public static final Backoff DEFAULT = new Backoff(false, Duration.ofMillis(100), Duration.ofSeconds(10), 2, 0.5, 0);

  /** No reconnect: a broken stream closes the app. */
  public static final Backoff DISABLED = new Backoff(true, Duration.ofMillis(100), Duration.ofSeconds(10), 2, 0.5, 0);

  public Backoff {
    if (initial == null || initial.isNegative() || initial.isZero()) initial = Duration.ofMillis(100);
    if (max == null || max.isNegative() || max.isZero()) max = Duration.ofSeconds(10);
    if (factor < 1) factor = 2;
    jitter = Math.min(1, Math.max(0, jitter));
  }

  /** The delay before attempt {@code attempt} (from 1) for a random value in [0, 1). */
  public Duration delay(int attempt, double random) {
    double base = initial.toNanos() * Math.pow(factor, Math.max(0, attempt - 1));
    base = Math.min(max.toNanos(), base);
    return Duration.ofNanos((long) (base * (1 - jitter * random)));
  }

  Duration delay(int attempt) {
    return delay(attempt, ThreadLocalRandom.current().nextDouble());
  }
}

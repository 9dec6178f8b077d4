package io.nksip;

import java.util.Map;

/** A plugin of the app (registrar, 100rel, timers, ...) and its options as text values. */
public record Plugin(String name, Map<String, String> options) {
  public Plugin {
    options = options == null ? Map.of() : Map.copyOf(options);
  }

  public static Plugin of(String name) {
    return new Plugin(name, Map.of());
  }
}

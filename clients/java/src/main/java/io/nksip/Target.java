package io.nksip;

/** Where a request goes: a URI (out of a dialog), a dialog or a subscription, by handle. */
public record Target(String uri, String dialog, String subscription) {
  public static Target uri(String uri) { return new Target(uri, "", ""); }
  public static Target dialog(String handle) { return new Target("", handle, ""); }
  public static Target subscription(String handle) { return new Target("", "", handle); }
}

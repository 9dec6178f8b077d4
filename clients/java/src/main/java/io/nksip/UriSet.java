package io.nksip;

import java.util.ArrayList;
import java.util.List;
import nksip.v1.Decisions.UriGroup;

/**
 * Targets for the proxy: serial groups of URIs tried in parallel within a group (NkSIP's
 * UriSet). Empty: the Request-URI.
 */
public record UriSet(List<List<String>> groups) {
  public static final UriSet EMPTY = new UriSet(List.of());

  public UriSet {
    groups = groups.stream().filter(g -> !g.isEmpty()).map(List::copyOf).toList();
  }

  /** One group: every URI at once. */
  public static UriSet parallel(String... uris) {
    return new UriSet(List.of(List.of(uris)));
  }

  public static UriSet parallel(List<String> uris) {
    return new UriSet(List.of(uris));
  }

  /** One group per URI: each tried after the previous one failed. */
  public static UriSet serial(String... uris) {
    List<List<String>> gs = new ArrayList<>();
    for (String u : uris) gs.add(List.of(u));
    return new UriSet(gs);
  }

  public boolean isEmpty() {
    return groups.isEmpty();
  }

  List<UriGroup> toProto() {
    return groups.stream().map(g -> UriGroup.newBuilder().addAllUris(g).build()).toList();
  }
}

package io.nksip;

import java.util.List;
import java.util.Optional;
import nksip.v1.Sip;

/** A name-addr (From, To, Contact, Route...): its URI, display name, parameters and tag. */
public record Address(String raw, String displayName, Uri uri, List<Sip.Param> params, String tag) {
  static Address of(Sip.NameAddr na) {
    return new Address(na.getRaw(), na.getDisplayName(), Uri.of(na.getUri()), na.getParamsList(),
        findParam(na.getParamsList(), "tag").orElse(""));
  }

  static List<Address> of(List<Sip.NameAddr> nas) {
    return nas.stream().map(Address::of).toList();
  }

  /** A header parameter's value, any case. */
  public Optional<String> param(String name) {
    return findParam(params, name);
  }

  static Optional<String> findParam(List<Sip.Param> params, String name) {
    for (Sip.Param p : params) {
      if (p.getName().equalsIgnoreCase(name)) return Optional.of(p.getValue());
    }
    return Optional.empty();
  }

  @Override
  public String toString() {
    return raw;
  }
}

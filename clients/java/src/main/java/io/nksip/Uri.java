package io.nksip;

import java.util.List;
import java.util.Optional;
import nksip.v1.Sip;

/** A SIP, SIPS or TEL URI as the server parsed it; any other scheme is in {@code raw} only. */
public record Uri(String raw, String scheme, String user, String host, int port, List<Sip.Param> params,
    List<Sip.Param> headers) {
  static Uri of(Sip.Uri u) {
    return new Uri(u.getRaw(), u.getScheme(), u.getUser(), u.getHost(), u.getPort(), u.getParamsList(),
        u.getHeadersList());
  }

  /** A URI parameter's value (empty for a flag such as lr), any case. */
  public Optional<String> param(String name) {
    return Address.findParam(params, name);
  }

  @Override
  public String toString() {
    return raw;
  }
}

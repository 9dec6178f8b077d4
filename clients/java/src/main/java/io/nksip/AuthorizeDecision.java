package io.nksip;

import nksip.v1.Decisions;

/** The answer to authorize (NkSIP's sip_authorize). */
public sealed interface AuthorizeDecision permits AuthorizeDecision.Of, RawAnswer {
  static AuthorizeDecision ok() { return new Of(Decisions.AuthorizeDecision.Kind.KIND_OK, ""); }
  /** 403. */
  static AuthorizeDecision forbidden() { return new Of(Decisions.AuthorizeDecision.Kind.KIND_FORBIDDEN, ""); }
  /** 401 challenge for realm (empty: the From domain). */
  static AuthorizeDecision authenticate(String realm) {
    return new Of(Decisions.AuthorizeDecision.Kind.KIND_AUTHENTICATE, realm == null ? "" : realm);
  }
  /** 407 challenge for realm. */
  static AuthorizeDecision proxyAuthenticate(String realm) {
    return new Of(Decisions.AuthorizeDecision.Kind.KIND_PROXY_AUTHENTICATE, realm == null ? "" : realm);
  }

  record Of(Decisions.AuthorizeDecision.Kind kind, String realm) implements AuthorizeDecision {}
}
